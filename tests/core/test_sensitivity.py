import pytest
import torch

from prunelab import models
from prunelab.pruning.sensitivity import choose_sparsity, scale_to_total, scan


def test_choose_takes_the_highest_level_within_tolerance_and_stops_at_the_first_break():
    rows = [{"layer": "none", "sparsity": 0.0, "accuracy": 0.99},
            {"layer": "a", "sparsity": 0.5, "accuracy": 0.99}, {"layer": "a", "sparsity": 0.9, "accuracy": 0.985},
            {"layer": "a", "sparsity": 0.95, "accuracy": 0.95}, {"layer": "a", "sparsity": 0.99, "accuracy": 0.99},
            {"layer": "b", "sparsity": 0.5, "accuracy": 0.90}]
    assert choose_sparsity(rows, tolerance=0.006) == {"a": 0.9, "b": 0.0}


def test_scaling_reaches_the_total_and_keeps_the_ranking():
    chosen = {"conv1": 0.5, "conv2": 0.8, "fc1": 0.95}
    sizes = {"conv1": 150, "conv2": 2400, "fc1": 48000}
    scaled = scale_to_total(chosen, sizes, 0.97)
    pruned = sum(scaled[n] * sizes[n] for n in sizes) / sum(sizes.values())
    assert pruned == pytest.approx(0.97, abs=1e-4)
    assert scaled["conv1"] < scaled["conv2"] < scaled["fc1"]


def test_scan_prunes_one_layer_at_a_time_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = models.build("lenet-300-100")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    seen = []

    def score(m):
        seen.append(sum(int((p == 0).sum()) for n, p in m.named_parameters() if n.endswith("weight")))
        return 1.0

    rows = scan(model, score, levels=(0.5,))
    assert [r["layer"] for r in rows] == ["none", "fc1.weight", "fc2.weight", "fc3.weight"]
    assert seen == [0, 117_600, 15_000, 500]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
