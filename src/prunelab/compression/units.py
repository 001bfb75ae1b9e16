"""Which original units a compact layer keeps, and the way back to the original architecture.

A compact model (``prunelab.deploy.compact``) drops the output units of a layer that pruning left
dead or unread; the next layer loses the inputs that read them. Format version 3 stores each layer
in its compact shape plus ``KeptUnits``: the layer's original weight shape and the original indices
of the units it keeps. A layer's compact input width follows from the layer before it in the file: it reads
``shape[1] // previous.shape[0]`` features per unit of that layer (1 for a convolution or a dense
layer after a dense one, H*W for a dense layer after a flattened convolution), and only those of
kept units. Where the layer before keeps every unit, the layer keeps its whole input width: so it
is in a chain, and so it is where the layer before is not the one it reads (a residual model's
branches, whose layers next to an add or a concatenation keep every unit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prunelab.compression.layer import check_positions
from prunelab.errors import PrunelabError

MAX_DIMS = 8


@dataclass(frozen=True, eq=False)
class KeptUnits:
    """``shape``: the layer's original weight shape; ``units``: the original output units the
    compact layer keeps (int64, ascending, at least one)."""

    shape: tuple[int, ...]
    units: np.ndarray

    def __post_init__(self):
        shape = self.shape
        if not isinstance(shape, (tuple, list)) or not 1 <= len(shape) <= MAX_DIMS or not all(
                isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in shape):
            raise PrunelabError(f"an original layer shape must be 1..{MAX_DIMS} positive integers, got {shape!r}")
        object.__setattr__(self, "shape", tuple(int(n) for n in shape))
        check_positions(self.shape, "an original layer")
        units = np.asarray(self.units)
        if units.ndim != 1 or units.dtype.kind not in "iu" or not units.size:
            raise PrunelabError("kept units must be a non-empty 1-D integer array")
        if units.min() < 0 or units.max() >= self.shape[0] or (np.diff(units) <= 0).any():
            raise PrunelabError(f"kept units must ascend within 0..{self.shape[0] - 1}")
        frozen = units.astype(np.int64)
        frozen.flags.writeable = False
        object.__setattr__(self, "units", frozen)

    @classmethod
    def all_of(cls, shape) -> KeptUnits:
        return cls(tuple(shape), np.arange(shape[0]))

    @property
    def all_kept(self) -> bool:
        return self.units.size == self.shape[0]


def compact_shape(entry: KeptUnits, previous: KeptUnits | None) -> tuple[int, ...]:
    """The compact weight shape of layer ``entry``, which reads the layer ``previous`` (None: the input)."""
    shape = [entry.units.size, *entry.shape[1:]]
    if previous is not None and len(shape) > 1 and not previous.all_kept and not _grouped(entry, previous):
        shape[1] = previous.units.size * _per_unit(entry, previous)
    return tuple(shape)


def compact_shapes(chain: list[KeptUnits]) -> list[tuple[int, ...]]:
    """The compact weight shape of every layer of the chain, in order."""
    return [compact_shape(entry, chain[n - 1] if n else None) for n, entry in enumerate(chain)]


def expand(weight: np.ndarray, bias: np.ndarray, entry: KeptUnits, previous: KeptUnits | None):
    """(weight, bias) of the original shape: the compact values at the kept rows (and at the
    columns that read kept units of ``previous``), zero everywhere else."""
    full = np.zeros(entry.shape, np.float32)
    if previous is None or weight.ndim == 1 or previous.all_kept or _grouped(entry, previous):
        full[entry.units] = weight
    else:
        per_unit = _per_unit(entry, previous)
        columns = (previous.units[:, None] * per_unit + np.arange(per_unit)).ravel()
        full[np.ix_(entry.units, columns)] = weight
    full_bias = np.zeros(entry.shape[0], np.float32)
    full_bias[entry.units] = bias
    return full, full_bias


def _grouped(entry: KeptUnits, previous: KeptUnits) -> bool:
    """Whether ``entry`` is a grouped (depthwise) convolution: fewer input channels than the layer
    before has units, each output reading its group's. Compaction keeps every unit beside one, so
    its columns are all there; a file that says otherwise is refused."""
    if len(entry.shape) != 4 or entry.shape[1] >= previous.shape[0] or previous.shape[0] % entry.shape[1]:
        return False
    if not previous.all_kept or not entry.all_kept:
        raise PrunelabError(f"a layer of shape {entry.shape} cannot read the {previous.shape[0]} units of the layer "
                            f"before it (a grouped convolution keeps every unit beside it)")
    return True


def _per_unit(entry: KeptUnits, previous: KeptUnits) -> int:
    per_unit, rest = divmod(entry.shape[1], previous.shape[0])
    if rest or not per_unit:
        raise PrunelabError(f"a layer of shape {entry.shape} cannot read the {previous.shape[0]} units "
                            f"of the layer before it")
    return per_unit
