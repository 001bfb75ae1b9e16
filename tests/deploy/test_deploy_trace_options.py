"""Every attribute that changes what a layer computes is read or the layer is refused (issue 23):
the C engine and the compact ONNX must never compute something else than PyTorch, silently."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from prunelab.deploy import graph as g
from prunelab.deploy.compact import compact
from prunelab.deploy.engine import Engine, compiler
from prunelab.deploy.module import to_module
from prunelab.errors import PrunelabError


class Wrapped(nn.Module):
    def __init__(self, *body):
        super().__init__()
        self.body = nn.Sequential(*body)

    def forward(self, x):
        return self.body(x)


class Doubled(nn.Conv2d):
    def forward(self, x):
        return 2 * super().forward(x)


class FunctionalPool(nn.Module):
    def __init__(self, pool, *args):
        super().__init__()
        self.conv, self.pool, self.args = nn.Conv2d(1, 2, 3), pool, args

    def forward(self, x):
        return torch.flatten(self.pool(self.conv(x), *self.args), 1)


@pytest.mark.parametrize("model, message", [
    (Wrapped(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2, dilation=2), nn.Flatten()), "dilation"),
    (Wrapped(nn.Conv2d(1, 2, 3), nn.AvgPool2d(2, divisor_override=3), nn.Flatten()), "divisor_override"),
    (Wrapped(Doubled(1, 2, 3), nn.Flatten()), "forward of its own"),
    (FunctionalPool(F.avg_pool2d, 2, 2, 0, False, True, 3), "unsupported pooling arguments"),
    (FunctionalPool(F.max_pool2d, 2, 2, 0, 2), "unsupported pooling arguments"),  # dilation, positional
])
def test_what_would_be_computed_otherwise_is_refused_by_name(model, message):
    with pytest.raises(PrunelabError, match=message):
        g.trace(model.eval(), (1, 10, 10))


def test_functional_ceil_mode_in_its_own_position_is_read():
    with pytest.raises(PrunelabError, match="ceil_mode"):  # max_pool2d's 5th positional argument
        g.trace(FunctionalPool(F.max_pool2d, 2, 2, 0, 1, True).eval(), (1, 10, 10))


@pytest.mark.skipif(compiler() is None, reason="no C compiler on this machine")
def test_a_flattened_convolution_as_the_output_gives_every_score(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNELAB_CACHE_DIR", str(tmp_path))
    torch.manual_seed(0)
    model = Wrapped(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()).eval()  # (N, 2*2*2) scores
    graph = compact(g.trace(model, (1, 6, 6))).graph
    x = torch.rand(5, 1, 6, 6)
    with torch.no_grad():
        expected = model(x).numpy()
        assert np.allclose(to_module(graph)(x).numpy(), expected, atol=1e-6)
    got = Engine(graph, weights="float", batch=1).scores(x.numpy())
    assert got.shape == (5, 8) and np.allclose(got, expected, atol=1e-5)


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.flat, self.fc = nn.Flatten(), nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.fc(self.flat(x))))


def test_a_layer_used_twice_is_refused_by_name():
    with pytest.raises(PrunelabError, match="fc is used twice in Twice's forward"):
        g.trace(Twice().eval(), (4,))
