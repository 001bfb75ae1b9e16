"""Per-layer magnitude pruning (Han et al. 2015): each layer loses exactly round(target * size) of
its smallest weights, or its own share of the way when ``settings.layers`` names per-layer targets."""

import math

from prunelab.errors import PrunelabError
from prunelab.methods.base import Method
from prunelab.pruning.criteria import magnitude_per_layer
from prunelab.pruning.mask import Mask


def criterion(weights: dict, mask: Mask, target: float, settings) -> Mask:
    layers = getattr(settings, "layers", "")
    return magnitude_per_layer(weights, mask, per_layer_targets(settings, mask, target) if layers else target)


def per_layer_targets(settings, mask: Mask, target: float) -> dict:
    """Each layer's share of this round: the same fraction of its way, in log density, as the model's."""
    from prunelab.runs.config import layer_targets

    finals = layer_targets(settings.layers)
    unknown = set(finals) - set(mask)
    if unknown:
        raise PrunelabError(f"prune.layers names {', '.join(sorted(unknown))}, which the model does not have")
    progress = math.log1p(-target) / math.log1p(-settings.sparsity) if settings.sparsity > 0 else 1.0
    return {n: 1.0 - (1.0 - finals.get(n, 0.0)) ** progress for n in mask}


METHOD = Method("magnitude", criterion, summary="per-layer magnitude, exact counts (Han et al. 2015)")
