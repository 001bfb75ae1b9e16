"""Memory a training loop holds for a pruned model, counted tensor by tensor.

Counted exactly rather than sampled from the process (whose size the PyTorch library dominates):
- state: every tensor kept between steps, each storage once: the model's parameters and buffers,
  tensors a pruning hook leaves on a module (torch's recomputed `weight`), our MaskEnforcer's
  masks and the Mask itself, and SGD's momentum buffers;
- saved for backward: what autograd keeps from one forward pass of a batch until its backward
  (torch.nn.utils.prune multiplies weight_orig by weight_mask inside the graph, so it saves both);
- checkpoint: bytes of torch.save(state_dict), plus our mask file (torch keeps its mask inside).
"""

import copy
import io

import torch
import torch.nn.functional as F

from prunelab import models
from prunelab.errors import PrunelabError
from prunelab.pruning import criteria, torch_backend
from prunelab.pruning.mask import Mask
from prunelab.training.masking import MaskEnforcer

BACKENDS = ("plain", "prunelab", "torch")  # plain: no pruning at all, the baseline


def storage_bytes(tensors) -> int:
    seen, total = set(), 0
    for t in tensors:
        storage = t.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
    return total


def module_tensors(model):
    yield from model.parameters()
    yield from model.buffers()
    for module in model.modules():  # plain tensor attributes, such as torch's recomputed weight
        yield from (v for v in vars(module).values() if isinstance(v, torch.Tensor))


def saved_for_backward_bytes(model, x, y) -> int:
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    return storage_bytes(saved)


def checkpoint_bytes(*objects) -> int:
    total = 0
    for obj in objects:
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        total += buffer.tell()
    return total


def training_footprint(name: str, backend: str, sparsity: float = 0.9, batch_size: int = 128,
                       input_shape=(1, 28, 28)) -> dict:
    """Bytes held while training model `name` (built-in or MODULE:FACTORY) on random inputs of
    ``input_shape``, pruned per layer to `sparsity` with `backend`."""
    if backend not in BACKENDS:
        raise PrunelabError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    torch.manual_seed(0)
    model = models.build(name)
    parameters = models.count_parameters(model)  # before torch's pruning renames them
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    extra, after_step, saved_files = [], None, []
    if backend == "prunelab":
        mask = criteria.magnitude_per_layer(dict(model.named_parameters()), Mask.ones_like(model), sparsity)
        after_step = MaskEnforcer(model, mask)
        extra = [*mask.values(), *(keep for _, keep in after_step.pairs)]
        saved_files = [dict(mask)]
    elif backend == "torch":
        torch_backend.prune_per_layer(model, sparsity)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, *input_shape, generator=generator)
    with torch.no_grad():
        classes = model(x[:1]).shape[1]
    y = torch.randint(0, classes, (batch_size,), generator=generator)
    saved = saved_for_backward_bytes(model, x, y)
    optimizer.step()
    if after_step is not None:
        after_step(model, optimizer)
    with torch.no_grad():
        model(x)  # let torch's hook leave its recomputed weights in place, as during training
    momentum = [v for s in optimizer.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
    state = storage_bytes([*module_tensors(model), *extra, *momentum])
    return {"model": name, "backend": backend, "state_bytes": state, "saved_for_backward_bytes": saved,
            "checkpoint_bytes": checkpoint_bytes(copy.deepcopy(model.state_dict()), *saved_files),
            "parameters": parameters}
