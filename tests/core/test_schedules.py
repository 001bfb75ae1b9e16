import pytest

from prunelab.errors import PrunelabError
from prunelab.pruning.schedules import agp_sparsity, iterative_targets


def test_iterative_targets_remove_the_same_share_of_survivors_each_round():
    assert iterative_targets(0.9, 1) == [0.9]
    targets = iterative_targets(0.875, 3)
    assert targets == pytest.approx([0.5, 0.75, 0.875])


def test_iterative_needs_a_round():
    with pytest.raises(PrunelabError):
        iterative_targets(0.9, 0)


def test_agp_follows_the_cubic_schedule():
    assert agp_sparsity(0, 0.9, 0, 100) == 0.0
    assert agp_sparsity(100, 0.9, 0, 100) == 0.9
    assert agp_sparsity(50, 0.8, 0, 100) == pytest.approx(0.8 - 0.8 * 0.5 ** 3)
    values = [agp_sparsity(t, 0.9, 10, 90) for t in range(0, 120)]
    assert values == sorted(values)
