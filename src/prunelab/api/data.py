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
    return x.float() if x.is_floating_point() else x.float().div_(255.0)


def as_pair(data) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(x, y) tensors when ``data`` is a pair of arrays, None when it is a batch iterable."""
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(hasattr(a, "shape") for a in data)):
        return None
    x, y = (a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a)) for a in data)
    y = y.long()
    if x.ndim < 2 or y.shape != (len(x),):
        raise PrunelabError(f"data needs x of shape (N, ...) and y of shape (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    if not len(x):
        raise PrunelabError("the data holds no examples")
    return x, y


def batches(data, batch_size: int, generator: torch.Generator | None = None):
    """One epoch of (float x, y) batches: a pair is shuffled by ``generator``, a loader is read as it is."""
    pair = as_pair(data)
    if pair is None:
        return ((as_float(x), torch.as_tensor(y)) for x, y in data)
    x, y = pair
    order = torch.randperm(len(x), generator=generator)
    return ((as_float(x[order[i:i + batch_size]]), y[order[i:i + batch_size]]) for i in range(0, len(x), batch_size))


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
    if isinstance(example, (tuple, list)) and example and all(isinstance(v, int) for v in example):
        return tuple(example)
    if example is not None:
        pair = as_pair(example)
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
