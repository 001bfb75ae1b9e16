"""The weight tables of one layer, as C arrays: sparse rows, in one of two storages.

Each output unit is a row of (offset, weight) pairs over its surviving weights, where offset is
where the weight's input sits in the stage's source buffer (a convolution: (c * Hp + i) * Wp + j
in the zero-bordered maps; a linear layer: the input feature). Two storages:

- ``float``: row starts, offsets (16 or 32 bit) and float32 values; 6 bytes a weight.
- ``codebook``: the layer's distinct values once (k-means weight sharing), then per weight one
  gap byte (offset minus the previous offset; a gap over 255 takes filler entries of 255 that
  carry the code ``FILL``, the index of a 0.0 appended to the values) and one code (8 bit, 16 if
  over 255 values): 2 bytes a weight, decoded as the loop runs (Han et al. 2016, section 3,
  without the Huffman stage).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prunelab.deploy import graph as g
from prunelab.errors import PrunelabError

STORAGES = ("float", "codebook")
MAX_GAP = 255


@dataclass(frozen=True, eq=False)
class Table:
    """C arrays by suffix (name -> (C type, numpy values)) and the bytes they take."""

    storage: str
    arrays: dict

    @property
    def bytes(self) -> int:
        return sum(values.size * np.dtype(_NUMPY[ctype]).itemsize for ctype, values in self.arrays.values())


def rows(layer, padded: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per output unit: (offsets int64 ascending, weights float32) of its nonzero weights."""
    out = []
    for o in range(layer.weight.shape[0]):
        if isinstance(layer, g.Conv):
            c, i, j = np.nonzero(layer.weight[o])
            values = layer.weight[o][c, i, j]
            c = c + o // (layer.weight.shape[0] // layer.groups) * layer.weight.shape[1]  # the group's channels
            offsets = (c * padded[0] + i) * padded[1] + j
        else:
            (k,) = np.nonzero(layer.weight[o])
            offsets = k if layer.inputs is None else layer.inputs[k]
            values = layer.weight[o][k]
        order = np.argsort(offsets, kind="stable")
        out.append((offsets[order].astype(np.int64), values[order].astype(np.float32)))
    return out


def table(layer, padded: tuple[int, int], storage: str) -> Table:
    if storage not in STORAGES:
        raise PrunelabError(f"unknown weight storage '{storage}'; choose from {', '.join(STORAGES)}")
    unit_rows = rows(layer, padded)
    return _float_table(unit_rows) if storage == "float" else _codebook_table(layer.name, unit_rows)


def _float_table(unit_rows) -> Table:
    offsets = np.concatenate([r[0] for r in unit_rows])  # a layer keeps at least one unit (compact.py)
    values = np.concatenate([r[1] for r in unit_rows])
    starts = np.cumsum([0] + [r[0].size for r in unit_rows])
    return Table("float", {"start": (_index_type(starts), starts), "offset": (_index_type(offsets), offsets),
                           "value": ("float", values)})


def _codebook_table(name: str, unit_rows) -> Table:
    values = np.concatenate([r[1] for r in unit_rows])
    centroids = np.unique(values)
    if centroids.size > 65535:
        raise PrunelabError(f"layer {name} has {centroids.size} distinct weights: too many for a codebook "
                            f"(use --weights float, or a weight-shared model)")
    fill = centroids.size  # the code of a filler entry
    gaps, codes, starts = [], [], [0]
    for offsets, weights in unit_rows:
        previous = 0
        for offset, code in zip(offsets.tolist(), np.searchsorted(centroids, weights).tolist()):
            gap = offset - previous
            while gap > MAX_GAP:
                gaps.append(MAX_GAP)
                codes.append(fill)
                gap -= MAX_GAP
            gaps.append(gap)
            codes.append(code)
            previous = offset
        starts.append(len(gaps))
    starts, codes = np.array(starts), np.array(codes, dtype=np.int64)
    return Table("codebook", {"start": (_index_type(starts), starts), "gap": ("uint8_t", np.array(gaps)),
                              "code": ("uint8_t" if fill <= 255 else "uint16_t", codes),
                              "centroid": ("float", np.append(centroids, 0).astype(np.float32))})


def _index_type(values: np.ndarray) -> str:
    return "uint16_t" if not values.size or values.max() <= 65535 else "uint32_t"


_NUMPY = {"uint8_t": np.uint8, "uint16_t": np.uint16, "uint32_t": np.uint32, "float": np.float32}
