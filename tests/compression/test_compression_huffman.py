"""Canonical, length-limited Huffman coding: exact small cases, optimality against a textbook
Huffman, round trips, and refusal of every malformed stream."""

import heapq

import numpy as np
import pytest
from compression_helpers import AllocationBound
from hypothesis import given, settings
from hypothesis import strategies as st

from prunelab.compression import huffman
from prunelab.compression.huffman import canonical_codes, code_lengths, decode, encode
from prunelab.errors import PrunelabError


def textbook_cost(counts):
    """Total bits of an unrestricted Huffman code (sum of the merged weights)."""
    heap = [c for c in counts if c > 0]
    if len(heap) == 1:
        return heap[0]
    heapq.heapify(heap)
    cost = 0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        cost += merged
        heapq.heappush(heap, merged)
    return cost


def kraft(lengths):
    return sum(2.0**-int(n) for n in np.asarray(lengths).tolist() if n)


def test_small_code_by_hand():
    assert code_lengths({1: 5, 2: 3, 3: 1}) == {1: 1, 2: 2, 3: 2}
    assert code_lengths(np.array([5, 0, 3, 1])).tolist() == [1, 0, 2, 2]
    codes = canonical_codes({0: 1, 1: 2, 2: 3, 3: 3})
    assert {s: c.to01() for s, c in codes.items()} == {0: "0", 1: "10", 2: "110", 3: "111"}


def test_single_symbol_gets_length_one():
    assert code_lengths({7: 42}) == {7: 1}
    assert code_lengths(np.array([0, 0, 9])).tolist() == [0, 0, 1]
    data = encode(np.full(10, 2), np.array([0, 0, 1]))
    assert data == b"\x00\x00"  # ten 0-bits, padded
    assert decode(data, np.array([0, 0, 1]), 10).tolist() == [2] * 10


def test_ties_broken_by_symbol():
    # equal weights: the lowest symbols are the lightest leaves and go deepest
    assert code_lengths(np.array([1, 1, 1])).tolist() == [2, 2, 1]
    assert code_lengths({2: 1, 0: 1, 1: 1}) == {0: 2, 1: 2, 2: 1}


def test_length_limit_binds_and_stays_a_prefix_code():
    fibonacci = [1, 1]
    while len(fibonacci) < 30:
        fibonacci.append(fibonacci[-1] + fibonacci[-2])
    counts = np.array(fibonacci)
    free = code_lengths(counts, max_length=31)
    assert free.max() == 29  # Fibonacci weights make the deepest possible Huffman tree
    for limit in (24, 8, 5):
        limited = code_lengths(counts, max_length=limit)
        assert limited.max() == limit and kraft(limited) <= 1
        assert (limited * counts).sum() >= (free * counts).sum()
    assert code_lengths(counts).max() == huffman.MAX_CODE_LENGTH
    with pytest.raises(PrunelabError):
        code_lengths(counts, max_length=4)  # 30 symbols do not fit 4 bits


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=80), st.integers(1, 24))
def test_lengths_are_optimal_and_within_the_limit(counts, limit):
    counts = np.array(counts)
    used = np.count_nonzero(counts)
    if used > 2**limit:
        return
    lengths = code_lengths(counts, max_length=limit)
    assert lengths.max(initial=0) <= limit and kraft(lengths) <= 1
    assert np.array_equal(lengths > 0, counts > 0)
    cost = int((lengths.astype(np.int64) * counts).sum())
    if used and limit >= used - 1:  # the limit cannot bind: must match a textbook Huffman code
        assert cost == textbook_cost(counts.tolist())
    assert np.array_equal(code_lengths(counts, max_length=limit), lengths)  # deterministic


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 300), max_size=400), st.integers(1, 24))
def test_decode_inverts_encode(symbols, limit):
    symbols = np.array(symbols, dtype=np.int64)
    counts = np.bincount(symbols, minlength=1)
    if np.count_nonzero(counts) > 2**limit:
        return
    lengths = code_lengths(counts, max_length=limit)
    data = encode(symbols, lengths)
    assert len(data) == (huffman.encoded_bits(symbols, lengths) + 7) // 8
    assert np.array_equal(decode(data, lengths, symbols.size), symbols)


def test_dict_tables_work_like_arrays():
    symbols = np.array([1000, 3, 3, 1000, 7])
    lengths = code_lengths({1000: 2, 3: 2, 7: 1})
    assert decode(encode(symbols, lengths), lengths, 5).tolist() == symbols.tolist()


def test_encode_refuses_symbols_without_a_code():
    with pytest.raises(PrunelabError, match="no Huffman code"):
        encode(np.array([0, 1]), np.array([1, 0]))
    with pytest.raises(PrunelabError):
        encode(np.array([0.5]), np.array([1]))


LENGTHS = np.array([1, 2, 2])  # codewords 0:0, 1:10, 2:11


@pytest.mark.parametrize(
    "data, count, why",
    [
        (b"\x58", 7, "corrupt"),  # 0 10 11 0 0 0, then the 7th codeword runs off the end
        (b"\x5c", 3, "left over"),  # 0 10 11, then bits 100 that are not zero padding
        (b"\x59", 4, "left over"),  # non-zero padding bit
        (b"\x58\x00", 4, "left over"),  # a whole extra byte
        (b"", 1, "cannot hold"),
        (b"\x00", 0, "no symbols"),
        (b"\x58", 10**12, "cannot hold"),  # forged count: refused before any allocation
    ],
)
def test_decode_refuses_malformed_streams(data, count, why):
    assert decode(b"\x58", LENGTHS, 4).tolist() == [0, 1, 2, 0]
    with pytest.raises(PrunelabError, match=why):
        decode(data, LENGTHS, count)


def test_decode_refuses_invalid_codewords_and_bad_tables():
    with pytest.raises(PrunelabError, match="corrupt"):
        decode(b"\x80", np.array([1]), 1)  # only "0" is a codeword
    with pytest.raises(PrunelabError, match="Kraft"):
        decode(b"\x00", np.array([1, 1, 1]), 1)
    with pytest.raises(PrunelabError):
        decode(b"\x00", np.array([40]), 1)
    with pytest.raises(PrunelabError, match="empty code table"):
        decode(b"\x00", np.array([0, 0]), 1)
    with pytest.raises(PrunelabError):
        decode(b"\x00", LENGTHS, -1)


def test_forged_count_on_a_long_stream_is_refused_without_decoding_it():
    data = bytes(1 << 16)
    with AllocationBound(1 << 20), pytest.raises(PrunelabError):
        decode(data, np.array([1, 1]), 8 * len(data) + 1)
    with AllocationBound(1 << 20), pytest.raises(PrunelabError, match="left over"):
        decode(data, np.array([1, 1]), 8)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.lists(st.integers(0, 50), min_size=1, max_size=40), st.integers(0, 10**6))
def test_decode_of_arbitrary_bytes_returns_exactly_count_or_refuses(data, counts, count):
    lengths = code_lengths(np.array(counts))
    try:
        symbols = decode(data, lengths, count)
    except PrunelabError:
        return
    assert symbols.size == count and encode(symbols, lengths) == data
