"""The user's data as batches for the one training loop, and the input shape of one example.

Data is either a pair ``(x, y)`` of tensors or numpy arrays (x: (N, *input_shape), y: (N,) class
indices) or anything that yields ``(x, y)`` batches, such as a ``torch.utils.data.DataLoader``.
Integer x (image bytes) become float pixels / 255, as prunelab's own datasets do; float x is used as is.
"""

import numpy as np
import torch

from prunelab.errors import PrunelabError


def as_float(x) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if x.dtype == torch.bool:  # as bytes it would be 0 or 1/255: almost certainly not what was meant
        raise PrunelabError("x is boolean; give pixels as uint8 (0..255) or float values")
    return x.float() if x.is_floating_point() else x.float().div_(255.0)


def as_labels(y, classes: int | None = None) -> torch.Tensor:
    """Integer class indices, checked: float labels would be truncated (8.7 -> 8), so they are refused."""
    y = y if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
    if y.is_floating_point() or y.dtype == torch.bool or y.is_complex():
        raise PrunelabError(f"labels must be integer class indices, not {str(y.dtype).removeprefix('torch.')}")
    if y.numel() and (int(y.min()) < 0 or (classes is not None and int(y.max()) >= classes)):
        top = f"0..{classes - 1}" if classes is not None else "0 or more"
        raise PrunelabError(f"labels run from {int(y.min())} to {int(y.max())}; the model's classes are {top}")
    return y.long()


def as_pair(data, labels: bool = True) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(x, y) tensors when ``data`` is a pair of arrays, None when it is a batch iterable; ``labels``:
    check y as class indices (not when only x's shape is wanted)."""
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(hasattr(a, "shape") for a in data)):
        return None
    x, y = (a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a)) for a in data)
    if x.ndim < 2 or y.shape != (len(x),):
        raise PrunelabError(f"data needs x of shape (N, ...) and y of shape (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    if not len(x):
        raise PrunelabError("the data holds no examples")
    return x, (as_labels(y) if labels else y)


def batches(data, batch_size: int, generator: torch.Generator | None = None, classes: int | None = None):
    """One epoch of (float x, y) batches: a pair is shuffled by ``generator``, a loader is read as it
    is (each of its batches checked: an (x, y) pair, integer labels below ``classes``)."""
    pair = as_pair(data)
    if pair is None:
        return (_checked_batch(batch, classes) for batch in data)
    x, y = pair
    as_labels(y, classes)
    order = torch.randperm(len(x), generator=generator)
    return ((as_float(x[order[i:i + batch_size]]), y[order[i:i + batch_size]]) for i in range(0, len(x), batch_size))


def _checked_batch(batch, classes):
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        kind = f"a {type(batch).__name__}" + (f" of {len(batch)}" if isinstance(batch, (tuple, list)) else "")
        raise PrunelabError(f"the data yielded {kind}; it must yield (x, y) pairs")
    return as_float(batch[0]), as_labels(batch[1], classes)


def check_training(batch_size, epochs, lr, momentum=0.0) -> None:
    """The training settings of the API's functions, one line for a value that cannot work."""
    for name, value in (("batch_size", batch_size), ("epochs", epochs)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise PrunelabError(f"{name} must be a whole number of at least 1, got {value!r}")
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not 0 < lr < float("inf"):
        raise PrunelabError(f"lr must be a positive number, got {lr!r}")
    if not isinstance(momentum, (int, float)) or isinstance(momentum, bool) or not 0 <= momentum < 1:
        raise PrunelabError(f"momentum must be in [0, 1), got {momentum!r}")


def classes_of(model: torch.nn.Module, data) -> int:
    """How many scores ``model`` gives for one example of ``data``, checking that the example fits."""
    pair = as_pair(data)
    x = pair[0][:1] if pair is not None else None
    if x is None:
        first = next(iter(data), None)
        x = _checked_batch(first, None)[0][:1] if first is not None else None
    if x is None or not len(x):
        raise PrunelabError("the data holds no examples")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            scores = model(as_float(x).to(device))
    except (RuntimeError, ValueError, IndexError) as exc:
        raise PrunelabError(f"an example of shape {tuple(x.shape[1:])} does not fit {type(model).__name__}: "
                            f"{str(exc).splitlines()[0]}") from None
    finally:
        model.train(was_training)
    if scores.ndim != 2:
        raise PrunelabError(f"{type(model).__name__} returns scores of shape {tuple(scores.shape)}, not (N, classes)")
    return int(scores.shape[1])


def steps_per_epoch(data, batch_size: int) -> int:
    pair = as_pair(data)
    if pair is not None:
        return -(-len(pair[0]) // batch_size)
    try:
        return len(data)
    except TypeError:
        raise PrunelabError("data must be a pair (x, y) or a DataLoader with a length") from None


def input_shape_of(model: torch.nn.Module, example=None) -> tuple[int, ...]:
    """(C, H, W) or (features,) of one input: from ``example`` (a shape, a batch, or (x, y) data), else
    from a model whose first layer is Linear (its in_features)."""
    if isinstance(example, (tuple, list)) and example and all(isinstance(v, (int, float)) for v in example):
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in example):
            raise PrunelabError(f"input_shape must be whole numbers of at least 1, got {tuple(example)}")
        return tuple(example)
    if example is not None:
        pair = as_pair(example, labels=False)
        x = pair[0] if pair is not None else example[0] if isinstance(example, (tuple, list)) else example
        if not hasattr(x, "shape"):
            x = next(iter(example))[0]
        return tuple(int(v) for v in x.shape[1:])
    first = next((m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))), None)
    if isinstance(first, torch.nn.Linear):
        return (first.in_features,)
    raise PrunelabError(f"{type(model).__name__} starts with a convolution: give input_shape=(C, H, W) or the data")


@torch.no_grad()
def accuracy(model: torch.nn.Module, data, batch_size: int = 1000) -> float:
    """The fraction of ``data`` (a pair (x, y) or a DataLoader) that ``model`` classifies correctly."""
    classes_of(model, data)  # one example first: a shape that does not fit is one line, not torch's error
    device = next(model.parameters()).device
    model.eval()
    pair = as_pair(data)
    chunks = (((as_float(pair[0][i:i + batch_size]), pair[1][i:i + batch_size]) for i in range(0, len(pair[0]), batch_size))
              if pair is not None else ((as_float(x), torch.as_tensor(y)) for x, y in data))
    correct = seen = 0
    for x, y in chunks:
        correct += int((model(x.to(device)).argmax(1).cpu() == y.long()).sum())
        seen += len(y)
    if not seen:
        raise PrunelabError("the data holds no examples")
    return correct / seen
