"""Tracing a model into a chain of plain operations, and refusing what is not one."""

import pytest
import torch
from torch import nn

from prunelab import models
from prunelab.deploy import graph as g
from prunelab.deploy.module import to_module
from prunelab.errors import PrunelabError


@pytest.mark.parametrize("name", list(models.REGISTRY))
def test_traced_registry_model_computes_what_the_model_does(name):
    torch.manual_seed(1)
    model = models.build(name).eval()
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(model(x), to_module(g.trace(model))(x), atol=1e-5)


def test_lenet5_caffe_shapes_and_macs():
    graph = g.trace(models.build("lenet5-caffe"))
    assert graph.architecture() == "20-50-500-10"
    assert graph.shapes()[-1] == (10,)
    assert graph.macs()["dense"] == 20 * 25 * 24 * 24 + 50 * 500 * 8 * 8 + 800 * 500 + 5000


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) + x


@pytest.mark.parametrize("module, message", [
    (nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.Sigmoid()), "Sigmoid is not supported"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2)), "only plain convolutions"),
    (nn.Sequential(nn.MaxPool2d(2, padding=1)), "padding"),
    (Residual(), "not a chain"),
])
def test_unsupported_models_are_refused_by_name(module, message):
    with pytest.raises(PrunelabError, match=message):
        g.trace(module, (1, 4, 4) if not isinstance(module, Residual) else (4,))
