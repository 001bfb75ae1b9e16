"""Canonical Huffman code-length tables, bit-packed (format version 3).

A table holds one code length per symbol (0 = no codeword). Versions 1 and 2 store a byte per
symbol of the whole alphabet; LeNet's tables need at most 4 or 5 bits a length, and an index
alphabet of 2**b gap values is rarely used to its end (the long gaps are missing). So version 3
stores ``width`` bits per length, ``width`` = the bit length of the longest code (0..5, as codes
are at most 24 bits), packed most significant bit first with zero padding, and, for the index
alphabet, only the lengths up to the last symbol that has a code (``count``). The writer always
picks the smallest ``width`` and ``count``, and the reader refuses any other, so one table has
one encoding.
"""

from __future__ import annotations

import numpy as np

from prunelab.errors import PrunelabError

MAX_WIDTH = 5  # bits of a length up to 24


def width_of(lengths: np.ndarray) -> int:
    return int(lengths.max()).bit_length() if lengths.size else 0


def count_of(lengths: np.ndarray, trim: bool) -> int:
    """Lengths stored: all of them, or (``trim``) up to the last non-zero one."""
    if not trim:
        return int(lengths.size)
    used = np.flatnonzero(lengths)
    return int(used[-1]) + 1 if used.size else 0


def packed_bytes(lengths: np.ndarray, trim: bool) -> int:
    return -(-count_of(lengths, trim) * width_of(lengths) // 8)


def pack(lengths: np.ndarray, trim: bool) -> tuple[int, int, bytes]:
    """(width, count, packed bytes) of a uint8 length table."""
    width, count = width_of(lengths), count_of(lengths, trim)
    values = lengths[:count].astype(np.uint8)
    bits = (values[:, None] >> np.arange(width - 1, -1, -1, dtype=np.uint8)) & 1
    return width, count, np.packbits(bits.ravel()).tobytes()


def unpack(raw: bytes, width: int, count: int, alphabet: int, trim: bool) -> np.ndarray:
    """The full table (``alphabet`` uint8 lengths) from its packed form; refuses a table that
    ``pack`` would not have written."""
    if not 0 <= width <= MAX_WIDTH or count > alphabet or (not trim and count != alphabet):
        raise PrunelabError(f"code-length table of {count} entries at {width} bits does not fit "
                            f"an alphabet of {alphabet}")
    if len(raw) != -(-count * width // 8):
        raise PrunelabError("code-length table has the wrong number of bytes")
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8))
    if bits[count * width :].any():
        raise PrunelabError("code-length table has non-zero padding bits")
    weights = (1 << np.arange(width - 1, -1, -1)).astype(np.int64)
    values = bits[: count * width].reshape(count, width).astype(np.int64) @ weights if width else np.zeros(count, np.int64)
    lengths = np.zeros(alphabet, dtype=np.uint8)
    lengths[:count] = values
    if width_of(lengths) != width or count_of(lengths, trim) != count:
        raise PrunelabError("code-length table is not in its shortest form")
    return lengths
