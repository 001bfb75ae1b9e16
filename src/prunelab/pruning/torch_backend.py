"""The same pruning through PyTorch's `torch.nn.utils.prune`, for side-by-side comparison.

PyTorch keeps `weight_orig` and `weight_mask` and recomputes `weight` in a forward pre-hook.
Its `amount` applies to the weights that are still unpruned, so we pass an exact count
(target total minus already pruned) to reach the same total sparsity as our criteria.
"""

import torch
from torch import nn
from torch.nn.utils import prune

from prunelab.pruning.mask import Mask, prunable_names


def _modules(model: nn.Module, names: list[str]):
    modules = dict(model.named_modules())
    return [(modules[name.rsplit(".", 1)[0]], "weight") for name in names]


def current_mask(model: nn.Module) -> Mask:
    """Read the masks torch keeps (all ones for a layer torch has not pruned yet)."""
    tensors = {}
    for name in prunable_names(model):
        module = dict(model.named_modules())[name.rsplit(".", 1)[0]]
        mask = getattr(module, "weight_mask", None)
        tensors[name] = mask.bool() if mask is not None else torch.ones_like(module.weight, dtype=torch.bool)
    return Mask(tensors)


def prune_per_layer(model: nn.Module, sparsity: float) -> Mask:
    """l1_unstructured on every layer so that each reaches `sparsity` of its weights."""
    before = current_mask(model)
    for (module, attr), name in zip(_modules(model, list(before)), before):
        total = before[name].numel()
        extra = max(0, round(sparsity * total) - (total - int(before[name].sum())))
        prune.l1_unstructured(module, attr, amount=extra)
    return current_mask(model)


def prune_global(model: nn.Module, sparsity: float) -> Mask:
    """global_unstructured with L1 importance to a total `sparsity` (no per-layer guard)."""
    before = current_mask(model)
    extra = max(0, round(sparsity * before.total()) - (before.total() - before.kept()))
    prune.global_unstructured(_modules(model, list(before)), prune.L1Unstructured, amount=extra)
    return current_mask(model)


def apply_mask(model: nn.Module, mask: Mask) -> None:
    """Install a given mask through torch's custom_from_mask (e.g. to resume a run)."""
    for (module, attr), name in zip(_modules(model, list(mask)), mask):
        if prune.is_pruned(module) and hasattr(module, "weight_mask"):
            prune.remove(module, attr)
        prune.custom_from_mask(module, attr, mask[name].to(module.weight.device))


def make_permanent(model: nn.Module) -> None:
    """Fold weight_orig * weight_mask into a plain `weight` and drop the hooks and buffers."""
    for name in prunable_names(model):
        module = dict(model.named_modules())[name.rsplit(".", 1)[0]]
        if hasattr(module, "weight_mask"):
            prune.remove(module, "weight")
