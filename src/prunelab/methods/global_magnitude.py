"""Global magnitude pruning: one threshold across all layers, each keeping at least 1% of its weights."""

from prunelab.methods.base import Method
from prunelab.pruning.criteria import magnitude_global
from prunelab.pruning.mask import Mask


def criterion(weights: dict, mask: Mask, target: float, settings) -> Mask:
    return magnitude_global(weights, mask, target)


METHOD = Method("global", criterion, summary="one magnitude threshold across layers")
