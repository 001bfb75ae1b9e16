"""Relative indexing with fillers: exact small cases, round trips for any mask, and refusals."""

import numpy as np
import pytest
from compression_helpers import AllocationBound
from hypothesis import given, settings
from hypothesis import strategies as st

from prunelab.compression.sparse_index import count_fillers, decode_relative_indices, encode_relative_indices
from prunelab.errors import PrunelabError


def bools(text):
    return np.array([c == "1" for c in text], dtype=bool)


def test_gaps_by_hand():
    # survivors at 0, 1, 3, 5: differences from the start (-1) and from each other
    assert encode_relative_indices(bools("110101"), 2).tolist() == [1, 1, 2, 2]


def test_fillers_by_hand():
    # 2-bit indices: M = 3. A survivor at 5 is 6 steps from -1: one filler (+3), then 3.
    # Four positions (6..9) remain after it, >= M: one trailing filler, leaving one (< M).
    mask = bools("0000010000")
    gaps = encode_relative_indices(mask, 2)
    assert gaps.tolist() == [0, 3, 0]
    assert count_fillers(gaps) == 2
    assert np.array_equal(decode_relative_indices(gaps, 2, 10), mask)


def test_paper_style_example_with_three_bits():
    # Han et al. figure 2 uses 3-bit differences; a gap of 15 positions needs a filler with ours
    mask = np.zeros(16, bool)
    mask[[1, 4, 15]] = True
    assert encode_relative_indices(mask, 3).tolist() == [2, 3, 0, 4]


@pytest.mark.parametrize("index_bits", range(1, 9))
@pytest.mark.parametrize("size", [0, 1, 7, 255, 256, 1000])
def test_empty_and_full_masks(index_bits, size):
    largest = 2**index_bits - 1
    empty = encode_relative_indices(np.zeros(size, bool), index_bits)
    assert empty.tolist() == [0] * (size // largest)
    assert not decode_relative_indices(empty, index_bits, size).any()
    full = encode_relative_indices(np.ones(size, bool), index_bits)
    assert full.tolist() == [1] * size
    assert decode_relative_indices(full, index_bits, size).all()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.booleans(), max_size=600), st.integers(1, 8))
def test_round_trip_any_mask(mask, index_bits):
    mask = np.array(mask, dtype=bool)
    gaps = encode_relative_indices(mask, index_bits)
    assert gaps.min(initial=0) >= 0 and gaps.max(initial=0) < 2**index_bits
    assert np.count_nonzero(gaps) == np.count_nonzero(mask)
    assert np.array_equal(decode_relative_indices(gaps, index_bits, mask.size), mask)


@settings(max_examples=100, deadline=None)
@given(st.floats(0.0, 1.0), st.integers(1, 8), st.integers(0, 5000), st.integers(0, 2**32 - 1))
def test_round_trip_sparse_masks(density, index_bits, size, seed):
    mask = np.random.default_rng(seed).random(size) < density
    gaps = encode_relative_indices(mask, index_bits)
    assert np.array_equal(decode_relative_indices(gaps, index_bits, size), mask)


@pytest.mark.parametrize(
    "gaps, size, why",
    [
        ([1, 4], 5, "out of range"),  # 4 needs 3 bits
        ([-1], 5, "out of range"),
        ([3, 3], 5, "past the end"),
        ([1], 5, "end before"),  # positions 1..4 (4 >= M = 3) left uncovered
        ([1, 0], 2, "past the end"),  # a trailing filler that runs off the layer
        ([], 10**12, "end before"),  # forged size: refused before allocating
    ],
)
def test_decode_refuses_inconsistent_gaps(gaps, size, why):
    with AllocationBound(1 << 20), pytest.raises(PrunelabError, match=why):
        decode_relative_indices(np.array(gaps, dtype=np.int64), 2, size)


def test_refuses_bad_arguments():
    with pytest.raises(PrunelabError):
        encode_relative_indices(np.ones((2, 2), bool), 2)
    with pytest.raises(PrunelabError):
        encode_relative_indices(np.ones(3, int), 2)
    for bits in (0, 9):
        with pytest.raises(PrunelabError):
            encode_relative_indices(np.ones(3, bool), bits)
    with pytest.raises(PrunelabError):
        decode_relative_indices(np.array([0.5]), 2, 1)
    with pytest.raises(PrunelabError):
        decode_relative_indices(np.array([1]), 2, -1)
