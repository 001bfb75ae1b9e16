"""The integer C's weight tables: one layer's sparse rows as C arrays, in one of two layouts.

Offsets come from ``ctables.rows`` (where each weight's input sits in the stage's source buffer);
the values are the plan's int8 weights. Pure.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from prunelab.deploy.ctables import rows
from prunelab.deploy.intplan import IntStage
from prunelab.errors import PrunelabError

LAYOUTS = ("smaller", "pairs", "groups")


def int_table(stage: IntStage, layout: str = "smaller") -> dict:
    """One layer's sparse rows in the smaller of two layouts (both exact; the sum is the same):

    - pairs: per surviving weight a gap from the previous one's input and its int8 value;
    - groups: a row's weights grouped by value, per group the value and a count, then the gaps
      of its inputs from the row's base; the inputs of a group are summed and multiplied once
      (a k-means layer has few distinct values, so most multiplies go).

    Gaps are bytes when every gap fits, else 16 bits (a layer whose rows span over 255 inputs)."""
    layer = replace(stage.stage.layer, weight=stage.weight.astype(np.float32))
    unit_rows = [(offsets.astype(np.int64), values.astype(np.int64)) for offsets, values in
                 rows(layer, stage.stage.source.padded)]
    pairs, groups = _pairs(unit_rows), _groups(unit_rows)
    chosen = {"pairs": pairs, "groups": groups}.get(layout) or min(
        pairs, groups, key=lambda t: (t["bytes"], t["kind"] == "groups"))
    return _finish(chosen["kind"], {**chosen["arrays"], "bias": ("int32_t", stage.bias.tolist())})


def _typed(values, signed=False) -> tuple[str, list]:
    values = list(values)
    top = max(values, default=0)
    if signed:
        return "int8_t", values
    if top > 65535:
        raise PrunelabError("a layer's table needs an index past 65,535 (a row spanning that many inputs, or that many entries)")
    return ("uint8_t" if top <= 255 else "uint16_t"), values


def _finish(kind: str, arrays: dict) -> dict:
    size = {"uint16_t": 2, "uint8_t": 1, "int8_t": 1, "int32_t": 4}
    return {"kind": kind, "arrays": arrays, "bytes": sum(size[t] * max(len(v), 1) for t, v in arrays.values())}


def _pairs(unit_rows) -> dict:
    starts, gaps, weights = [0], [], []
    for offsets, values in unit_rows:
        gaps += np.diff(offsets, prepend=0).tolist()
        weights += values.tolist()
        starts.append(len(gaps))
    return _finish("pairs", {"start": _typed(starts), "gap": _typed(gaps), "weight": _typed(weights, True)})


def _groups(unit_rows) -> dict:
    group_starts, gap_starts, values, counts, gaps = [0], [0], [], [], []
    for offsets, weights in unit_rows:
        for value in np.unique(weights):
            chosen = offsets[weights == value]
            for part in range(0, len(chosen), 255):  # a count is a byte
                values.append(int(value))
                counts.append(len(chosen[part:part + 255]))
                gaps += np.diff(chosen[part:part + 255], prepend=0).tolist()
        group_starts.append(len(values))
        gap_starts.append(len(gaps))
    return _finish("groups", {"group": _typed(group_starts), "gapstart": _typed(gap_starts), "value": _typed(values, True),
                              "count": ("uint8_t", counts), "gap": _typed(gaps)})
