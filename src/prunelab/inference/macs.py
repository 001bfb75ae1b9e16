"""Multiply-accumulates per image, dense and on nonzero weights: the ceiling on a sparse speed-up.

Counted as Han et al. (2015) count them: each convolution weight is used once per output position,
each linear weight once per image (found by a forward hook, pruning.report.uses_per_weight).
"Dense" is the work PyTorch's dense kernels do, so LeNet5_1998's absent C3 connections count
there (README's 326,520 leaves them out) and drop out of the nonzero count.
"""

from torch import nn

from prunelab.inference.layers import effective_weight
from prunelab.pruning.report import uses_per_weight


def mac_counts(model: nn.Module, input_shape=(1, 28, 28)) -> list[dict]:
    """One row per conv/linear layer: weights, nonzero weights, dense MACs, nonzero MACs."""
    uses = uses_per_weight(model, (1, *input_shape))
    rows = []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            weight = effective_weight(module)
            nonzero, per_weight = int(weight.count_nonzero()), uses[f"{name}.weight"]
            rows.append({"layer": name, "weights": weight.numel(), "nonzero": nonzero,
                         "macs_dense": weight.numel() * per_weight, "macs_nonzero": nonzero * per_weight})
    return rows


def flop_ceiling(rows: list[dict]) -> float | None:
    """Dense MACs / nonzero MACs: the speed-up skipping zeros could give at best (None if all are zero)."""
    nonzero = sum(r["macs_nonzero"] for r in rows)
    return sum(r["macs_dense"] for r in rows) / nonzero if nonzero else None
