"""Weight sharing: hand-computed k-means results, the three initialisations, and the paper's
"sum of the members' gradients" rule checked by hand and against autograd."""

import numpy as np
import pytest
import torch

from prunelab.compression.kmeans import Codebook, centroid_gradients, cluster, dequantize, used_centroids
from prunelab.errors import PrunelabError


def f32(values):
    return np.array(values, dtype=np.float32)


def test_two_clusters_by_hand():
    # linear init [1, 12]; midpoint 6.5 splits {1,2,3} from {10,11,12}; means 2 and 11
    weights = f32([1, 2, 3, 10, 11, 12])
    codebook, codes = cluster(weights, np.ones(6, bool), bits=1)
    assert codebook.centroids.tolist() == [2.0, 11.0]
    assert codebook.bits == 1
    assert codes.tolist() == [0, 0, 0, 1, 1, 1]


def test_pruned_weights_take_no_part_and_get_code_zero():
    weights = f32([[1, 2, 3, 100], [10, 11, 12, -50]])
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 0]], bool)
    codebook, codes = cluster(weights, mask, bits=1)
    assert codebook.centroids.tolist() == [2.0, 11.0]  # 100 and -50 would have moved both
    assert codes.tolist() == [[0, 0, 0, 0], [1, 1, 1, 0]]
    assert codes.dtype == np.int32


def test_linear_init_spans_min_to_max():
    codebook, codes = cluster(f32([0, 1, 5, 9]), np.ones(4, bool), bits=2, iterations=0)
    assert codebook.centroids.tolist() == [0.0, 3.0, 6.0, 9.0]
    assert codes.tolist() == [0, 0, 2, 3]  # 1 < 1.5 (midpoint of 0 and 3); 4.5 < 5 < 7.5


def test_midpoint_tie_goes_to_lower_centroid():
    codebook, codes = cluster(f32([0, 1, 2]), np.ones(3, bool), bits=1, iterations=0)
    assert codebook.centroids.tolist() == [0.0, 2.0]
    assert codes.tolist() == [0, 0, 1]


def test_density_init_is_quantiles():
    codebook, _ = cluster(f32([0, 1, 2, 3, 4]), np.ones(5, bool), bits=2, init="density", iterations=0)
    assert np.allclose(codebook.centroids, [0, 4 / 3, 8 / 3, 4])


def test_random_init_is_seeded_forgy():
    weights = np.random.default_rng(1).normal(size=200).astype(np.float32)
    mask = np.ones(200, bool)
    first, codes1 = cluster(weights, mask, bits=3, init="random", iterations=0, seed=7)
    again, codes2 = cluster(weights, mask, bits=3, init="random", iterations=0, seed=7)
    other, _ = cluster(weights, mask, bits=3, init="random", iterations=0, seed=8)
    assert np.array_equal(first.centroids, again.centroids) and np.array_equal(codes1, codes2)
    assert not np.array_equal(first.centroids, other.centroids)
    assert set(first.centroids.tolist()) <= set(weights.tolist())  # sampled observations


def test_never_more_centroids_than_distinct_values():
    codebook, codes = cluster(f32([1, 1, 2, 2, 2]), np.ones(5, bool), bits=3)
    assert codebook.centroids.tolist() == [1.0, 2.0]
    assert codes.tolist() == [0, 0, 1, 1, 1]


def test_empty_mask_gives_empty_codebook():
    codebook, codes = cluster(f32([1, 2]), np.zeros(2, bool), bits=4)
    assert codebook.size == 0 and codes.tolist() == [0, 0]
    assert dequantize(codebook, codes, np.zeros(2, bool)).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("init", ["linear", "density", "random"])
def test_converged_centroids_are_member_means(init):
    rng = np.random.default_rng(0)
    weights = rng.normal(0, 0.1, size=(40, 50)).astype(np.float32)
    mask = np.abs(weights) > 0.05
    codebook, codes = cluster(weights, mask, bits=4, init=init, iterations=200)
    kept, members = weights[mask].astype(np.float64), codes[mask]
    for code, centroid in enumerate(codebook.centroids):
        if np.any(members == code):
            assert centroid == pytest.approx(kept[members == code].mean(), rel=1e-5, abs=1e-7)
    # and every weight sits with its nearest centroid
    distance = np.abs(kept[:, None] - codebook.centroids[None, :].astype(np.float64))
    assert np.all(distance[np.arange(kept.size), members] <= distance.min(axis=1) + 1e-7)


def test_dequantize_places_centroids_and_zeros():
    weights = f32([[0.5, -0.25, 0.7], [1.0, 0.3, 0.5]])
    mask = np.array([[1, 1, 0], [1, 0, 1]], bool)
    codebook, codes = cluster(weights, mask, bits=2)
    restored = dequantize(codebook, codes, mask)
    assert restored.dtype == np.float32
    assert restored.tolist() == [[0.5, -0.25, 0.0], [1.0, 0.0, 0.5]]


def test_unused_centroids_are_dropped_and_the_weights_stay_identical():
    rng = np.random.default_rng(3)
    weights = rng.normal(size=(40, 50)).astype(np.float32)
    mask = rng.random((40, 50)) < 0.02  # 40 survivors for 256 centroids: most clusters empty
    codebook, codes = cluster(weights, mask, 8)
    smaller, renumbered = used_centroids(codebook, codes, mask)
    assert smaller.size == np.unique(codes[mask]).size < codebook.size
    assert smaller.bits == codebook.bits and np.all(np.diff(smaller.centroids) > 0)  # order kept
    assert np.array_equal(dequantize(smaller, renumbered, mask), dequantize(codebook, codes, mask))
    assert np.all(renumbered[~mask] == 0)
    empty, none = used_centroids(Codebook(np.zeros(0, np.float32), 4), np.zeros((2, 2), np.int32),
                                 np.zeros((2, 2), bool))
    assert empty.size == 0 and not none.any()


def test_dequantize_refuses_codes_past_the_codebook():
    codebook = Codebook(f32([1, 2]), bits=2)
    with pytest.raises(PrunelabError, match="centroid"):
        dequantize(codebook, np.array([0, 2]), np.array([True, True]))
    assert dequantize(codebook, np.array([0, 5]), np.array([True, False])).tolist() == [1.0, 0.0]


def test_is_deterministic_and_fast_enough_for_lenet_fc1():
    weights = np.random.default_rng(3).normal(0, 0.05, size=(800, 500)).astype(np.float32)
    mask = np.ones(weights.shape, bool)
    first = cluster(weights, mask, bits=8)
    second = cluster(weights, mask, bits=8)
    assert np.array_equal(first[0].centroids, second[0].centroids) and np.array_equal(first[1], second[1])
    assert first[0].size == 256


@pytest.mark.parametrize(
    "kwargs",
    [dict(bits=0), dict(bits=17), dict(bits=2, init="kmeans++"), dict(bits=2, iterations=-1)],
)
def test_cluster_refuses_bad_settings(kwargs):
    with pytest.raises(PrunelabError):
        cluster(f32([1, 2, 3]), np.ones(3, bool), **kwargs)


def test_cluster_refuses_bad_inputs():
    with pytest.raises(PrunelabError):
        cluster(f32([1, 2]), np.ones(3, bool), bits=2)
    with pytest.raises(PrunelabError):
        cluster(f32([1, np.nan]), np.ones(2, bool), bits=2)
    cluster(f32([1, np.nan]), np.array([True, False]), bits=2)  # a pruned NaN is no one's business


def test_codebook_validates_itself():
    for centroids, bits in [(np.zeros(5, np.float32), 2), (np.zeros(2), 2), (f32([np.inf]), 2), (f32([0]), 0)]:
        with pytest.raises(PrunelabError):
            Codebook(centroids, bits)
    source = f32([1, 2])
    codebook = Codebook(source, 1)
    source[0] = 9
    assert codebook.centroids.tolist() == [1.0, 2.0] and not codebook.centroids.flags.writeable


def test_centroid_gradients_by_hand():
    grad = torch.tensor([[1.0, 2.0, 4.0], [8.0, 16.0, 32.0]])
    codes = torch.tensor([[0, 1, 0], [2, 1, 0]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    result = centroid_gradients(grad, codes, mask, k=4)
    # centroid 0: 1 + 32 (the pruned 4 is excluded); 1: 2 + 16; 2: 8; 3: no members
    assert result.tolist() == [33.0, 18.0, 8.0, 0.0]
    assert grad.tolist() == [[1.0, 2.0, 4.0], [8.0, 16.0, 32.0]]  # inputs untouched


def test_centroid_gradients_match_autograd_through_shared_weights():
    generator = torch.Generator().manual_seed(0)
    k, shape = 5, (6, 7)
    centroids = torch.randn(k, generator=generator, requires_grad=True)
    codes = torch.randint(0, k, shape, generator=generator)
    mask = torch.rand(shape, generator=generator) > 0.4
    weights = (centroids[codes] * mask).detach().requires_grad_(True)
    upstream = torch.randn(shape, generator=generator)
    (weights * upstream).sum().backward()
    ((centroids[codes] * mask) * upstream).sum().backward()
    expected = centroids.grad
    assert torch.allclose(centroid_gradients(weights.grad, codes, mask, k), expected, atol=1e-6)


def test_centroid_gradients_refuse_mismatched_inputs():
    with pytest.raises(PrunelabError):
        centroid_gradients(torch.zeros(2, 3), torch.zeros(3, 2, dtype=torch.long), torch.ones(2, 3).bool(), 2)
    with pytest.raises(PrunelabError):
        centroid_gradients(torch.zeros(2), torch.tensor([0, 3]), torch.ones(2, dtype=torch.bool), 3)
