"""Canonical, length-limited Huffman coding of small integer alphabets.

Deep Compression (Han, Mao & Dally 2016, section 4) Huffman-codes the quantized weight codes and the
sparse-index differences of each layer separately and reports a further 20-30 % saving. The paper
does not say how the code tables are stored; we use a *canonical* code, so a table is just one code
length per symbol (the file stores those lengths, one byte each) and both sides rebuild the same
codewords: symbols sorted by (length, symbol) get consecutive binary numbers.

Departure: lengths are limited to ``max_length`` bits with package-merge (Larmore & Hirschberg
1990), which gives the optimal code among those that respect the limit; plain Huffman (what the
paper uses) is the special case where the limit does not bind. Bits are packed most significant
first; the last byte is padded with zero bits.
"""

from __future__ import annotations

import itertools

import numpy as np
from bitarray import bitarray
from bitarray.util import canonical_decode, int2ba

from prunelab.errors import PrunelabError

MAX_CODE_LENGTH = 24  # default limit; also the most the file format accepts
_BITARRAY_LIMIT = 31  # bitarray's canonical decoder handles lengths up to 31


def code_lengths(frequencies, max_length: int = MAX_CODE_LENGTH):
    """Optimal prefix-code lengths for ``frequencies``, none longer than ``max_length``.

    ``frequencies`` is either a 1-D integer array indexed by symbol (returns a uint8 array of the
    same size) or a dict symbol -> count (returns a dict symbol -> length). Symbols with count 0
    get length 0 (no codeword). A lone symbol gets length 1. Ties are broken by symbol, so the
    result is deterministic.
    """
    if not isinstance(max_length, int) or not 1 <= max_length <= _BITARRAY_LIMIT:
        raise PrunelabError(f"max_length must be an integer in 1..{_BITARRAY_LIMIT}, got {max_length!r}")
    if isinstance(frequencies, dict):
        symbols = sorted(_check_symbol(s) for s in frequencies)
        counts = [_check_count(frequencies[s]) for s in symbols]
        lengths = _lengths_for(symbols, counts, max_length)
        return {s: lengths.get(s, 0) for s in symbols}
    counts = np.asarray(frequencies)
    if counts.ndim != 1 or counts.dtype.kind not in "iu" or (counts.size and counts.min() < 0):
        raise PrunelabError("frequencies must be a 1-D array of non-negative integers")
    result = np.zeros(counts.size, dtype=np.uint8)
    for symbol, length in _lengths_for(range(counts.size), counts.tolist(), max_length).items():
        result[symbol] = length
    return result


def _lengths_for(symbols, counts, max_length: int) -> dict[int, int]:
    used = sorted((c, s) for s, c in zip(symbols, counts) if c > 0)
    if not used:
        return {}
    if len(used) == 1:
        return {used[0][1]: 1}
    if len(used) > 2**max_length:
        raise PrunelabError(f"{len(used)} symbols cannot be coded in at most {max_length} bits")
    if sum(c for c, _ in used) >= 2**56:  # package weights stay below 31x the total: int64 is exact
        raise PrunelabError("symbol frequencies are too large")
    lengths = _package_merge(np.array([c for c, _ in used], dtype=np.int64), max_length)
    return {s: int(n) for (_, s), n in zip(used, lengths)}


def _package_merge(weights: np.ndarray, max_length: int) -> np.ndarray:
    """Code lengths for ascending ``weights`` (n >= 2) by package-merge.

    Level lists are built from the deepest level up: each merges the leaves with the pairwise
    "packages" of the level below (leaves first on ties, via a stable sort). The optimal solution
    takes the 2n-2 cheapest items of the top list; the items taken at every level are a prefix of
    that level's list, so we only remember which entries were leaves.
    """
    n = weights.size
    merged, levels = weights, [np.zeros(n, dtype=bool)]  # levels[i]: which entries are packages
    for _ in range(max_length - 1):
        pairs = merged.size // 2 * 2
        packages = merged[0:pairs:2] + merged[1:pairs:2]
        combined = np.concatenate([weights, packages])
        order = np.argsort(combined, kind="stable")
        merged = combined[order]
        levels.append(order >= n)
    lengths = np.zeros(n, dtype=np.int64)
    take = 2 * n - 2
    for is_package in reversed(levels):
        leaves = int(take - np.count_nonzero(is_package[:take]))
        lengths[:leaves] += 1  # the `leaves` lightest symbols sit one level deeper
        take = 2 * (take - leaves)
    return lengths


def canonical_codes(lengths) -> dict[int, bitarray]:
    """The canonical codeword of every symbol with a non-zero length (DEFLATE's construction)."""
    table = code_table(lengths)
    codes, code, previous = {}, 0, 0
    for symbol, length in sorted(table.items(), key=lambda item: (item[1], item[0])):
        code <<= length - previous
        codes[symbol] = int2ba(code, length, endian="big")
        code, previous = code + 1, length
    return codes


def encode(symbols: np.ndarray, lengths) -> bytes:
    """Concatenate the canonical codewords of ``symbols``; zero-pad to whole bytes."""
    symbols = np.asarray(symbols)
    codes = canonical_codes(lengths)
    if symbols.size == 0:
        return b""
    if symbols.dtype.kind not in "iu":
        raise PrunelabError("symbols to encode must be integers")
    missing = set(np.unique(symbols).tolist()) - codes.keys()
    if missing:
        raise PrunelabError(f"symbol {min(missing)} has no Huffman code")
    bits = bitarray(endian="big")
    bits.encode(codes, symbols.ravel().tolist())
    return bits.tobytes()


def decode(data: bytes, lengths, count: int) -> np.ndarray:
    """Decode exactly ``count`` symbols (int64) from ``data``, refusing anything else.

    Refused: lengths that break Kraft's inequality, a ``count`` the stream cannot hold (checked
    before allocating: count * shortest length <= bits present), an invalid codeword, a stream
    that ends early, and anything after the last codeword but the zero padding of the last byte.
    """
    table = code_table(lengths)
    if not isinstance(count, (int, np.integer)) or isinstance(count, bool) or count < 0:
        raise PrunelabError(f"symbol count must be a non-negative integer, got {count!r}")
    count = int(count)
    if count == 0:
        if data:
            raise PrunelabError("Huffman stream has data but no symbols")
        return np.zeros(0, dtype=np.int64)
    if not table:
        raise PrunelabError("Huffman stream has symbols but an empty code table")
    if count * min(table.values()) > 8 * len(data):
        raise PrunelabError(f"Huffman stream of {len(data)} bytes cannot hold {count} symbols")
    order = sorted(table.items(), key=lambda item: (item[1], item[0]))
    per_length = [0] * (max(table.values()) + 1)
    for _, length in order:
        per_length[length] += 1
    bits = bitarray(endian="big")
    bits.frombytes(bytes(data))
    try:
        decoded = canonical_decode(bits, per_length, [s for s, _ in order])
        symbols = np.fromiter(itertools.islice(decoded, count), dtype=np.int64, count=count)
    except ValueError as exc:
        raise PrunelabError("Huffman stream is corrupt (invalid or truncated codeword)") from exc
    used = _bit_count(symbols, table)
    if (used + 7) // 8 != len(data) or bits[used:].any():
        raise PrunelabError("Huffman stream has bits left over after the last symbol")
    return symbols


def encoded_bits(symbols: np.ndarray, lengths) -> int:
    """Exact number of bits ``encode`` writes for ``symbols``, before byte padding."""
    return _bit_count(np.asarray(symbols), code_table(lengths))


def _bit_count(symbols: np.ndarray, table: dict[int, int]) -> int:
    values, counts = np.unique(symbols, return_counts=True)
    return sum(table[int(v)] * int(c) for v, c in zip(values, counts))


def code_table(lengths) -> dict[int, int]:
    """Validate a code-length table (array indexed by symbol, or dict); return symbol -> length > 0."""
    if isinstance(lengths, dict):
        items = [(_check_symbol(s), lengths[s]) for s in lengths]
    else:
        array = np.asarray(lengths)
        if array.ndim != 1 or array.dtype.kind not in "iu":
            raise PrunelabError("code lengths must be a 1-D integer array")
        items = list(enumerate(array.tolist()))
    table = {}
    for symbol, length in items:
        if not isinstance(length, (int, np.integer)) or not 0 <= length <= _BITARRAY_LIMIT:
            raise PrunelabError(f"code length {length!r} is outside 0..{_BITARRAY_LIMIT}")
        if length:
            table[symbol] = int(length)
    if table:
        longest = max(table.values())
        if sum(1 << (longest - n) for n in table.values()) > 1 << longest:
            raise PrunelabError("code lengths violate Kraft's inequality (not a prefix code)")
    return table


def _check_symbol(symbol) -> int:
    if not isinstance(symbol, (int, np.integer)) or isinstance(symbol, bool) or symbol < 0:
        raise PrunelabError(f"Huffman symbols must be non-negative integers, got {symbol!r}")
    return int(symbol)


def _check_count(count) -> int:
    if not isinstance(count, (int, np.integer)) or isinstance(count, bool) or count < 0:
        raise PrunelabError(f"symbol frequencies must be non-negative integers, got {count!r}")
    return int(count)
