import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prunelab.errors import PrunelabError
from prunelab.pruning import criteria
from prunelab.pruning.mask import Mask


def weights_and_mask(seed, shapes):
    g = torch.Generator().manual_seed(seed)
    weights = {f"l{i}.weight": torch.randn(*s, generator=g) for i, s in enumerate(shapes)}
    return weights, Mask({n: torch.ones_like(w, dtype=torch.bool) for n, w in weights.items()})


def test_per_layer_prunes_the_smallest_by_hand():
    w = {"a.weight": torch.tensor([[0.5, -0.1, 0.3], [-0.9, 0.05, 0.2]])}
    mask = Mask({"a.weight": torch.ones(2, 3, dtype=torch.bool)})
    new = criteria.magnitude_per_layer(w, mask, 0.5)
    assert new["a.weight"].tolist() == [[True, False, True], [True, False, False]]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.lists(st.floats(0.0, 0.99), min_size=1, max_size=4))
def test_iterative_per_layer_sparsity_is_exact_and_masks_only_shrink(seed, targets):
    weights, mask = weights_and_mask(seed, [(7, 5), (13,), (3, 2, 4, 4)])
    for target in sorted(targets):
        new = criteria.magnitude_per_layer(weights, mask, target)
        new.check_shrinks_from(mask)
        for name, keep in new.items():
            assert int((~keep).sum()) == max(round(target * keep.numel()), int((~mask[name]).sum()))
        mask = new
        weights = {n: w * mask[n] for n, w in weights.items()}


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 0.95))
def test_global_sparsity_is_exact_and_keeps_every_layer_alive(seed, target):
    weights, mask = weights_and_mask(seed, [(50, 40), (6, 1, 5, 5), (10, 3)])
    weights["l2.weight"] = weights["l2.weight"] * 1e-3  # tiny layer: global pruning would empty it
    new = criteria.magnitude_global(weights, mask, target)
    assert mask.total() - new.kept() == round(target * mask.total())
    assert all(int(keep.sum()) >= 1 for keep in new.values())


def test_global_matches_a_single_threshold_when_no_guard_binds():
    weights, mask = weights_and_mask(1, [(20, 20), (30, 10)])
    new = criteria.magnitude_global(weights, mask, 0.5, min_keep=0.0)
    everything = torch.cat([w.abs().flatten() for w in weights.values()])
    threshold = everything.sort().values[round(0.5 * everything.numel())]
    for name, w in weights.items():
        assert torch.equal(new[name], w.abs() >= threshold)


def test_std_threshold_one_sigma_of_gaussian_keeps_about_31_percent():
    # |w| >= 1 std of N(0, 1) holds for 31.73% of the mass (68.27% lies within one std)
    weights, mask = weights_and_mask(0, [(1000, 1000)])
    kept = criteria.std_threshold(weights, mask, 1.0).kept() / mask.total()
    assert kept == pytest.approx(0.3173, abs=0.002)


def test_std_threshold_recomputes_sigma_on_survivors():
    weights, mask = weights_and_mask(0, [(200, 200)])
    first = criteria.std_threshold(weights, mask, 1.0)
    second = criteria.std_threshold(weights, first, 1.0)
    second.check_shrinks_from(first)
    assert second.kept() < first.kept()


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5])
def test_impossible_sparsity_is_refused(bad):
    weights, mask = weights_and_mask(0, [(4, 4)])
    with pytest.raises(PrunelabError, match="sparsity must be in"):
        criteria.magnitude_per_layer(weights, mask, bad)
