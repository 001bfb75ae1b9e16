"""Han et al. 2015's threshold: prune |w| < quality x std of each layer's surviving weights.

The threshold sets the sparsity, so ``target`` is not used; ``settings.quality`` is.
"""

from prunelab.methods.base import Method
from prunelab.pruning.criteria import std_threshold
from prunelab.pruning.mask import Mask


def criterion(weights: dict, mask: Mask, target: float, settings) -> Mask:
    return std_threshold(weights, mask, settings.quality)


METHOD = Method("std", criterion, summary="quality x std threshold per layer (Han et al. 2015)")
