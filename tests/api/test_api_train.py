"""prunelab.train: the dense stage from Python, so that what prune starts from is a trained model;
and the API's one-line refusals for a sparsity Sparse VD does not obey and a missing mask."""

import numpy as np
import pytest
import torch
from torch import nn

import prunelab
from prunelab.errors import PrunelabError


def blobs(n=400, seed=0):
    """Two classes a linear model separates: class 1's first feature is large."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 1, (n, 8)).astype(np.float32)
    x[:, 0] += 5 * y
    return x, y


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


def test_training_learns_and_is_seeded():
    data = blobs()
    model = mlp()
    before = prunelab.accuracy(model, data)
    losses = prunelab.train(model, data, epochs=3, lr=0.1)
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert prunelab.accuracy(model, data) > max(before, 0.9)
    again = mlp()
    prunelab.train(again, data, epochs=3, lr=0.1)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


@pytest.mark.parametrize("kwargs, message", [({"epochs": 0}, "epochs must be a whole number"),
                                             ({"schedule": "step"}, "schedule must be one of constant, cosine"),
                                             ({"weight_decay": -1.0}, "weight_decay must be in")])
def test_impossible_training_settings_are_one_line(kwargs, message):
    with pytest.raises(PrunelabError, match=message):
        prunelab.train(mlp(), blobs(), **kwargs)


def test_sparse_vd_refuses_a_sparsity_and_magnitude_pruning_needs_one():
    with pytest.raises(PrunelabError, match="chooses its own sparsity"):
        prunelab.prune(mlp(), blobs(), 0.9, method="svd")
    with pytest.raises(PrunelabError, match="needs a sparsity"):
        prunelab.prune(mlp(), blobs())


def test_quantize_without_a_mask_is_one_line():
    with pytest.raises(PrunelabError, match="needs the mask that prune returned"):
        prunelab.quantize(mlp(), None, blobs())


def test_accuracy_on_data_of_the_wrong_shape_is_one_line():
    x, y = blobs()
    with pytest.raises(PrunelabError, match="does not fit Sequential"):
        prunelab.accuracy(mlp(), (x[:, :5], y))


def test_a_terminal_gets_a_progress_bar_with_the_epoch_and_sparsity_and_a_pipe_none(capsys, monkeypatch):
    import sys

    data = blobs()
    prunelab.prune(mlp(), data, 0.5, epochs=1, rounds=2)
    assert capsys.readouterr().err == ""  # not a terminal: silent
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    prunelab.train(mlp(), data, epochs=1)
    prunelab.prune(mlp(), data, 0.5, epochs=1, rounds=2)
    prunelab.prune(mlp(), data, 0.5, epochs=1, rounds=2, progress=False)
    err = capsys.readouterr().err
    assert "train 1/1" in err and "prune 1/2 sparsity" in err and "prune 2/2 sparsity" in err
    assert err.count("prune 2/2") == 1  # progress=False: no bar
