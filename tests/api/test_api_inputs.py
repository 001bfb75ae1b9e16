"""The Python API refuses, in one PrunelabError each, the inputs that used to give a traceback or,
worse, silently wrong training (issue 23): float or out-of-range labels, boolean images, a loader
yielding something else than (x, y) pairs, impossible settings, a fractional input shape."""

import numpy as np
import pytest
import torch
from torch import nn

import prunelab
from prunelab.errors import PrunelabError


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))


X = np.random.default_rng(0).integers(0, 256, (40, 12), dtype=np.uint8)
Y = np.arange(40) % 3


@pytest.mark.parametrize("data, message", [
    ((X, Y + 0.7), "labels must be integer class indices, not float64"),
    ((X, Y + 1), "labels run from 1 to 3; the model's classes are 0..2"),
    ((X, -Y), "labels run from -2 to 0"),
    ((X.astype(bool), Y), "x is boolean"),
    ([{"x": torch.zeros(4, 12), "y": torch.zeros(4)}], "yielded a dict"),
    ([(torch.zeros(4, 12), torch.zeros(4, dtype=torch.long), torch.zeros(4))], "yielded a tuple of 3"),
    ((np.zeros((40, 7), np.uint8), Y), r"an example of shape \(7,\) does not fit Sequential"),
])
def test_bad_data_is_one_line(data, message):
    with pytest.raises(PrunelabError, match=message):
        prunelab.prune(mlp(), data, 0.5, epochs=1)


@pytest.mark.parametrize("settings, message", [
    ({"batch_size": 0}, "batch_size must be a whole number of at least 1, got 0"),
    ({"epochs": 1.5}, "epochs must be a whole number"),
    ({"lr": -1}, "lr must be a positive number"),
    ({"layers": "1=1.5"}, "sparsity"),
])
def test_impossible_settings_are_one_line(settings, message):
    with pytest.raises(PrunelabError, match=message):
        prunelab.prune(mlp(), (X, Y), 0.5, **{"epochs": 1, **settings})


def test_a_fractional_input_shape_is_one_line(tmp_path):
    with pytest.raises(PrunelabError, match="input_shape must be whole numbers"):
        prunelab.export_onnx(mlp(), tmp_path / "m.onnx", input_shape=(12.0,))
