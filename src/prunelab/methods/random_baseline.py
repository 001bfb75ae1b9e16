"""Random pruning, the baseline any criterion should beat (Frankle et al. 2021, "Pruning neural
networks at initialization: why are we missing the mark?", use it as the floor).

Each layer loses exactly round(target * size) weights: the already pruned ones first, then
surviving ones in a random order fixed by the layer's name, so a rerun prunes the same weights.
"""

import zlib

import torch

from prunelab.methods.base import Method
from prunelab.pruning.criteria import check_sparsity, prune_smallest
from prunelab.pruning.mask import Mask


def criterion(weights: dict, mask: Mask, target: float, settings) -> Mask:
    new = {}
    for name, keep in mask.items():
        generator = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        scores = torch.rand(keep.shape, generator=generator)  # (same shape as the weight)
        new[name] = prune_smallest(scores, keep, round(check_sparsity(target) * keep.numel()))
    return Mask(new)


METHOD = Method("random", criterion, summary="random weights to an exact count per layer (a baseline)")
