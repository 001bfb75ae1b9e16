"""The integer C's weight tables: one layer's sparse rows as C arrays, in one of two layouts.

Offsets come from ``ctables.rows`` (where each weight's input sits in the stage's source buffer);
the values are the plan's int8 weights. Pure.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from prunelab.deploy import graph as g
from prunelab.deploy.ctables import rows
from prunelab.deploy.intplan import IntStage
from prunelab.errors import PrunelabError

LAYOUTS = ("smaller", "pairs", "groups", "packed")
MAX_ENTRY_BITS = 16  # an entry at any bit offset lies in 3 bytes: 7 + 16 <= 24


def int_table(stage: IntStage, layout: str = "smaller") -> dict:
    """One layer's sparse rows in one of three layouts (all exact; the sum is the same):

    - pairs: per surviving weight a gap byte from the previous one's input and its int8 value,
      side by side (a gap past 255 as filler pairs of weight 0);
    - groups: a row's weights grouped by value, per group the value and a count, then the gaps
      of its inputs from the row's base; the inputs of a group are summed and multiplied once
      (a k-means layer has few distinct values, so most multiplies go);
    - packed: per weight one entry of ``gap_bits + code_bits`` bits in a bit stream, the gap from
      the previous input and the weight's index in the layer's codebook of int8 values (Han et
      al.'s relative indices: a gap past ``2^gap_bits - 1`` takes filler entries of code 0, whose
      value is 0), the gap width chosen for the fewest bytes.

    Biases are int16 where every one fits, else int32. In groups, gaps are bytes when every gap
    fits, else 16 bits. ``smaller`` takes each
    layer's smallest, the packed layout only for a linear layer: a convolution reads its table
    once per output position, and unpacking an entry costs a Cortex-M0 about 8 more instructions,
    where a linear layer reads its table once an image."""
    layer = replace(stage.stage.layer, weight=stage.weight.astype(np.float32))
    unit_rows = [(offsets.astype(np.int64), values.astype(np.int64)) for offsets, values in
                 rows(layer, stage.stage.source.padded)]
    if layout != "smaller":
        chosen = {"pairs": _pairs, "groups": _groups, "packed": _packed}[layout](unit_rows)
        if chosen is None:
            raise PrunelabError(f"{stage.name}: no packed table fits 65,535 entries of at most {MAX_ENTRY_BITS} bits")
    else:
        candidates = [_pairs(unit_rows), _groups(unit_rows)]
        if isinstance(stage.stage.layer, g.Dense):
            candidates += [t for t in [_packed(unit_rows)] if t is not None]
        chosen = min(candidates, key=lambda t: (t["bytes"], LAYOUTS.index(t["kind"])))
    bias = stage.bias.tolist()
    bias_type = "int16_t" if all(-32768 <= b <= 32767 for b in bias) else "int32_t"
    return _finish(chosen["kind"], {**chosen["arrays"], "bias": (bias_type, bias)},
                   chosen.get("bits", {}))


def _typed(values, signed=False) -> tuple[str, list]:
    values = list(values)
    top = max(values, default=0)
    if signed:
        return "int8_t", values
    if top > 65535:
        raise PrunelabError("a layer's table needs an index past 65,535 (a row spanning that many inputs, or that many entries)")
    return ("uint8_t" if top <= 255 else "uint16_t"), values


def _finish(kind: str, arrays: dict, bits: dict | None = None) -> dict:
    size = {"uint16_t": 2, "int16_t": 2, "uint8_t": 1, "int8_t": 1, "int32_t": 4}
    return {"kind": kind, "arrays": arrays, "bits": bits or {},
            "bytes": sum(size[t] * max(len(v), 1) for t, v in arrays.values())}


def _pairs(unit_rows) -> dict:
    """One int8 array of (gap, weight) pairs, the gap read as a byte (0..255; stored as the int8 of
    the same bits): a gap past 255 takes filler pairs (255, weight 0). One pointer walks both."""
    starts, pairs = [0], []
    for offsets, values in unit_rows:
        for gap, value in zip(np.diff(offsets, prepend=0).tolist(), values.tolist()):
            while gap > 255:
                pairs += [-1, 0]  # the byte 255, weight 0
                gap -= 255
            pairs += [gap - 256 if gap > 127 else gap, value]
        starts.append(len(pairs) // 2)
    return _finish("pairs", {"start": _typed(starts), "pair": ("int8_t", pairs)})


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


def _packed(unit_rows) -> dict | None:
    weights = np.concatenate([values for _, values in unit_rows]) if unit_rows else np.zeros(0, np.int64)
    book = [0] + sorted(set(weights.tolist()) - {0})  # code 0: the value 0 of a filler entry
    code_bits = max(1, (len(book) - 1).bit_length())
    if code_bits >= MAX_ENTRY_BITS:
        raise PrunelabError(f"a layer with {len(book) - 1} distinct weights does not pack into "
                            f"{MAX_ENTRY_BITS}-bit entries")
    gaps = [np.diff(offsets, prepend=0) for offsets, _ in unit_rows]
    sizes = {gap_bits: _packed_bytes(gaps, gap_bits, code_bits) for gap_bits in range(1, MAX_ENTRY_BITS - code_bits + 1)}
    fitting = {gap_bits: size for gap_bits, size in sizes.items() if size is not None}
    if not fitting:
        return None
    codes = [np.searchsorted(book[1:], values) + 1 for _, values in unit_rows]
    return _pack(gaps, codes, book, min(fitting, key=fitting.get), code_bits)  # the narrowest of the smallest


def _packed_bytes(gaps, gap_bits: int, code_bits: int) -> int | None:
    """The bytes ``_pack`` would take at this gap width (None past 65,535 entries), without packing:
    a gap g takes (g - 1) // (2^gap_bits - 1) fillers before its entry."""
    top = (1 << gap_bits) - 1
    entries = sum(len(row) + int((np.maximum(row - 1, 0) // top).sum()) for row in gaps)
    if entries > 65535:
        return None
    starts = (1 if entries <= 255 else 2) * (len(gaps) + 1)
    return (entries * (gap_bits + code_bits) + 7) // 8 + 2 + starts + (1 << code_bits)


def _pack(gaps, codes, book, gap_bits: int, code_bits: int) -> dict:
    """Entries ``gap | code << gap_bits``, least significant bit first, in a byte stream with two
    spare bytes at the end (the C reads three bytes for any entry); None past 65,535 entries."""
    top, starts, entries = (1 << gap_bits) - 1, [0], []
    for row_gaps, row_codes in zip(gaps, codes):
        for gap, code in zip(row_gaps.tolist(), row_codes.tolist()):
            while gap > top:
                entries.append(top)  # a filler: the gap's first top inputs, code 0
                gap -= top
            entries.append(gap | code << gap_bits)
        starts.append(len(entries))
    if len(entries) > 65535:
        return None
    width = gap_bits + code_bits
    stream = bytearray((len(entries) * width + 7) // 8 + 2)
    for n, entry in enumerate(entries):
        value = entry << (n * width & 7)
        for k in range(3):
            stream[(n * width >> 3) + k] |= (value >> (8 * k)) & 0xFF
    return _finish("packed", {"start": _typed(starts), "stream": ("uint8_t", list(stream)),
                              "book": ("int8_t", book + [0] * ((1 << code_bits) - len(book)))},
                   {"gap": gap_bits, "code": code_bits})
