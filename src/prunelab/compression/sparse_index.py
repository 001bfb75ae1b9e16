"""Relative indexing of a sparse layer (Han, Mao & Dally 2016, section 2 and figure 2).

The paper stores, for each surviving weight, the *difference* between its position and the
previous survivor's position in ``b`` bits (5 bits for every LeNet layer), and inserts a "filler
zero" entry when a difference does not fit.

Our exact scheme, on the flattened (row-major) layer, with ``M = 2**b - 1``:

* a cursor starts at position -1;
* a gap value ``g`` in 1..M is a real entry: the cursor advances by ``g`` and that position holds
  the next surviving weight (which has a weight code in the weight stream);
* the gap value 0 is a filler: the cursor advances by ``M`` and nothing is stored there;
* after the last survivor, fillers continue until fewer than ``M`` positions remain, so that the
  index stream spans the whole layer. This makes every mask's encoding unique and, more usefully,
  bounds the layer size a file can claim by the bits it actually holds (no forged giant shapes).

Departures from the paper, to account for honestly: the paper's filler is an ordinary entry that
stores a weight code (for the value zero) as well as an index, and reaches a difference of ``2**b``;
ours costs index bits only, but the largest real difference is ``2**b - 1``. Our trailing fillers
(at most ``size // M`` of them, only for an empty tail) have no counterpart in the paper, which
does not say how the end of a layer is handled.
"""

from __future__ import annotations

import numpy as np

from prunelab.errors import PrunelabError

MAX_INDEX_BITS = 8


def encode_relative_indices(mask_flat: np.ndarray, index_bits: int) -> np.ndarray:
    """Gap values (int64, each in 0..2**index_bits - 1) for the True positions of ``mask_flat``."""
    mask_flat = _check_mask(mask_flat)
    largest = _largest_gap(index_bits)
    positions = np.flatnonzero(mask_flat)
    steps = np.diff(positions, prepend=-1)  # distance from the previous survivor (or from -1)
    fillers = (steps - 1) // largest
    last = positions[-1] if positions.size else -1
    tail_fillers = (mask_flat.size - 1 - last) // largest
    gaps = np.zeros(int(fillers.sum()) + positions.size + tail_fillers, dtype=np.int64)
    gaps[np.cumsum(fillers + 1) - 1] = steps - fillers * largest
    return gaps


def decode_relative_indices(gaps: np.ndarray, index_bits: int, size: int) -> np.ndarray:
    """The boolean mask of ``size`` entries that ``gaps`` describes; refuses inconsistent input."""
    positions = relative_positions(gaps, index_bits, size)
    mask = np.zeros(int(size), dtype=bool)
    mask[positions] = True
    return mask


def relative_positions(gaps: np.ndarray, index_bits: int, size: int) -> np.ndarray:
    """Flat positions (int64, ascending) of the real entries in ``gaps``, checked against ``size``.

    Refused: gap values outside 0..2**index_bits - 1, an entry past the end of the layer, and a
    stream that stops while ``M`` or more positions remain. Work and memory are proportional to
    ``len(gaps)``, never to ``size``, so a forged size costs nothing to refuse.
    """
    largest = _largest_gap(index_bits)
    gaps = np.asarray(gaps)
    if gaps.ndim != 1 or (gaps.size and gaps.dtype.kind not in "iu"):
        raise PrunelabError("relative indices must be a 1-D integer array")
    if not isinstance(size, (int, np.integer)) or size < 0:
        raise PrunelabError(f"layer size must be a non-negative integer, got {size!r}")
    if gaps.size and (gaps.min() < 0 or gaps.max() > largest):
        raise PrunelabError(f"relative index out of range for {index_bits}-bit indices")
    cursor = np.cumsum(np.where(gaps == 0, largest, gaps).astype(np.int64)) - 1
    end = int(cursor[-1]) if cursor.size else -1
    if end >= size:
        raise PrunelabError("relative indices run past the end of the layer")
    if size - 1 - end >= largest:
        raise PrunelabError("relative indices end before the layer does")
    return cursor[gaps != 0]


def count_fillers(gaps: np.ndarray) -> int:
    """How many entries of ``gaps`` are fillers (hold no weight)."""
    return int(np.count_nonzero(np.asarray(gaps) == 0))


def _largest_gap(index_bits: int) -> int:
    if not isinstance(index_bits, (int, np.integer)) or not 1 <= index_bits <= MAX_INDEX_BITS:
        raise PrunelabError(f"index_bits must be an integer in 1..{MAX_INDEX_BITS}, got {index_bits!r}")
    return 2 ** int(index_bits) - 1


def _check_mask(mask_flat) -> np.ndarray:
    mask_flat = np.asarray(mask_flat)
    if mask_flat.dtype != bool or mask_flat.ndim != 1:
        raise PrunelabError("mask must be a 1-D boolean array (flatten it first)")
    return mask_flat
