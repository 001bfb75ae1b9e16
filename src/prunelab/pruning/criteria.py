"""Mask criteria: pure functions (weights, current mask, setting) -> new mask.

They never touch a model. Already-pruned weights are always pruned first, so the new mask is a
subset of the old one, and the count of pruned weights is exact: round(sparsity * size).
"""

import torch

from prunelab.errors import PrunelabError
from prunelab.pruning.mask import Mask


def check_sparsity(sparsity: float) -> float:
    if not 0.0 <= float(sparsity) < 1.0:
        raise PrunelabError(f"sparsity must be in [0, 1), got {sparsity}")
    return float(sparsity)


def prune_smallest(scores: torch.Tensor, keep: torch.Tensor, count: int) -> torch.Tensor:
    """Mask that prunes exactly `count` entries: the pruned ones first, then the smallest scores."""
    flat = torch.where(keep, scores.abs(), torch.tensor(-1.0)).flatten()
    count = max(count, int((~keep).sum()))  # masks only shrink
    new = torch.ones(flat.numel(), dtype=torch.bool)
    if count:
        # stable sort: ties are broken by position, so the result is deterministic
        order = torch.sort(flat, stable=True).indices
        new[order[:count]] = False
    return new.view_as(keep)


def magnitude_per_layer(weights: dict, mask: Mask, sparsity) -> Mask:
    """Han et al. 2015 style per-layer magnitude pruning to an exact fraction of each layer.

    `sparsity` is a float for every layer or a dict name -> float.
    """
    targets = sparsity if isinstance(sparsity, dict) else dict.fromkeys(mask, sparsity)
    new = {}
    for name, keep in mask.items():
        fraction = check_sparsity(targets.get(name, 0.0))
        new[name] = prune_smallest(weights[name].detach().cpu(), keep, round(fraction * keep.numel()))
    return Mask(new)


def magnitude_global(weights: dict, mask: Mask, sparsity: float, min_keep: float = 0.01) -> Mask:
    """One magnitude threshold across all layers, pruning exactly round(sparsity * total).

    Global pruning can empty a small layer and collapse accuracy, so each layer keeps at least
    `min_keep` of its weights (its largest ones); the rest of the budget is pruned globally.
    """
    check_sparsity(sparsity)
    names = list(mask)
    flats = [weights[n].detach().cpu().abs().flatten() for n in names]
    keeps = [mask[n].flatten() for n in names]
    reserved = []
    for flat, keep in zip(flats, keeps):
        guard = torch.zeros_like(keep)
        floor = min(max(1, round(min_keep * keep.numel())), int(keep.sum()))
        if floor:
            guard[torch.topk(torch.where(keep, flat, torch.tensor(-1.0)), floor).indices] = True
        reserved.append(guard)
    scores = torch.cat([torch.where(g, torch.tensor(float("inf")), f) for f, g in zip(flats, reserved)])
    keep_all = torch.cat(keeps)
    count = round(sparsity * keep_all.numel())
    if count > keep_all.numel() - int(torch.cat(reserved).sum()):
        raise PrunelabError(f"global sparsity {sparsity} would empty a layer (min_keep={min_keep})")
    new_flat = prune_smallest(scores, keep_all, count)
    pieces = torch.split(new_flat, [k.numel() for k in keeps])
    return Mask({n: p.view_as(mask[n]) for n, p in zip(names, pieces)})


def std_threshold(weights: dict, mask: Mask, quality) -> Mask:
    """Han et al. 2015: prune |w| < quality x std of the layer's surviving weights.

    `quality` is a float or a dict name -> float (from a sensitivity scan). Departure: the std is
    taken over the surviving weights, so each iterative round recomputes it on what is left.
    """
    qualities = quality if isinstance(quality, dict) else dict.fromkeys(mask, quality)
    new = {}
    for name, keep in mask.items():
        w = weights[name].detach().cpu()
        alive = w[keep]
        sigma = float(alive.std()) if alive.numel() > 1 else 0.0
        new[name] = keep & (w.abs() >= float(qualities.get(name, 0.0)) * sigma)
    return Mask(new)
