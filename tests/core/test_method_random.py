"""The worked example of docs/extending.md: a method added as one module and one registry line."""

import torch

import prunelab
from prunelab import methods
from prunelab.cli.main import main
from prunelab.pruning.mask import Mask
from prunelab.runs.config import PruneConfig


def test_random_pruning_is_exact_only_shrinks_and_repeats():
    weights = {"a.weight": torch.randn(10, 10), "b.weight": torch.randn(4, 25)}
    mask = Mask({"a.weight": torch.ones(10, 10, dtype=torch.bool), "b.weight": torch.ones(4, 25, dtype=torch.bool)})
    first = methods.get("random").criterion(weights, mask, 0.3, PruneConfig())
    assert {n: int((~k).sum()) for n, k in first.items()} == {"a.weight": 30, "b.weight": 30}  # exact counts
    second = methods.get("random").criterion(weights, first, 0.6, PruneConfig())
    second.check_shrinks_from(first)
    assert second.total() - second.kept() == 120
    again = methods.get("random").criterion(weights, mask, 0.3, PruneConfig())
    assert all(torch.equal(first[n], again[n]) for n in first)


def test_the_registry_line_is_enough_for_python_and_the_command_line(tmp_path, capsys):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    data = (torch.rand(32, 12), torch.randint(0, 3, (32,)))
    assert prunelab.prune(model, data, 0.5, method="random", batch_size=16).sparsity() == 0.5
    assert main(["prune", "--method", "random", "--backend", "torch"]) == 2
    assert "supports methods magnitude and global, not random" in capsys.readouterr().err
