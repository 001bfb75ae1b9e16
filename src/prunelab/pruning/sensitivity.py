"""Per-layer sensitivity scan (Han et al. 2015, Fig. 5): prune one layer at a time, measure.

The scan sets each layer's target sparsity automatically, the way Han et al. chose their
per-layer quality parameters by hand: the most sensitive layer gets the smallest one.
Measure on the validation split, never the test set.
"""

import copy

from prunelab.pruning import criteria
from prunelab.pruning.mask import Mask

DEFAULT_LEVELS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99)


def scan(model, score, levels=DEFAULT_LEVELS) -> list[dict]:
    """Rows {layer, sparsity, accuracy}: `score(model) -> accuracy` with only that layer pruned.

    Each row starts again from the unpruned model; no retraining.
    """
    base = Mask.ones_like(model)
    rows = [{"layer": "none", "sparsity": 0.0, "accuracy": score(model)}]
    for name in base:
        for level in levels:
            trial = copy.deepcopy(model)
            mask = criteria.magnitude_per_layer(dict(trial.named_parameters()), base, {name: level})
            mask.apply_to(trial)
            rows.append({"layer": name, "sparsity": level, "accuracy": score(trial)})
    return rows


def choose_sparsity(rows: list[dict], tolerance: float) -> dict:
    """Per layer, the highest scanned sparsity whose accuracy is within `tolerance` of unpruned.

    Pure. A layer that cannot lose anything within the tolerance gets sparsity 0. Levels are
    taken in increasing order and the choice stops at the first level that breaks the
    tolerance, so a lucky higher level after a bad one is not chosen.
    """
    reference = next(r["accuracy"] for r in rows if r["layer"] == "none")
    chosen = {}
    for name in dict.fromkeys(r["layer"] for r in rows if r["layer"] != "none"):
        chosen[name] = 0.0
        for row in sorted((r for r in rows if r["layer"] == name), key=lambda r: r["sparsity"]):
            if reference - row["accuracy"] > tolerance:
                break
            chosen[name] = row["sparsity"]
    return chosen


def scale_to_total(chosen: dict, sizes: dict, total: float) -> dict:
    """Per-layer sparsities with the scan's shape that reach `total` sparsity over all layers.

    Every layer's density (1 - sparsity) is multiplied by one factor, found by bisection, and
    kept within [0.001, 1]: the scan's ranking of layers is preserved. Pure.
    """
    names = list(chosen)

    def density(factor, name):
        return min(1.0, max(0.001, (1.0 - chosen[name]) * factor))

    def overall(factor):
        return 1.0 - sum(density(factor, n) * sizes[n] for n in names) / sum(sizes[n] for n in names)

    low, high = 0.0, 1.0 / max(1e-6, min(1.0 - chosen[n] for n in names))
    for _ in range(100):
        middle = (low + high) / 2
        if overall(middle) > total:
            low = middle  # too sparse: let more weights live
        else:
            high = middle
    return {n: round(1.0 - density(low, n), 6) for n in names}
