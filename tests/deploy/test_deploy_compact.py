"""Compaction: dead units dropped, their constants folded, and the model's outputs unchanged."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from prunelab import models
from prunelab.deploy import graph as g
from prunelab.deploy.compact import compact
from prunelab.deploy.module import to_module
from deploy_helpers import ConvChain, sparsify


def outputs(module, x):
    with torch.no_grad():
        return module(x)


def test_dead_unit_constant_folds_into_next_bias_by_hand():
    # unit 1 of fc1 has no input: relu(2) = 2 reaches fc2 through weights 3 and -1
    fc1 = g.Dense("fc1", np.array([[1, 0], [0, 0]], np.float32), np.array([0.5, 2], np.float32))
    fc2 = g.Dense("fc2", np.array([[1, 3], [2, -1]], np.float32), np.array([10, 20], np.float32))
    result = compact(g.Graph([g.Flatten(), fc1, g.Activation("relu"), fc2], (2,)))
    first, second = result.graph.layers()
    assert first.weight.tolist() == [[1]] and first.inputs.tolist() == [0]  # pixel 1 is read by nothing
    assert second.weight.tolist() == [[1], [2]]
    assert second.bias.tolist() == [16, 18]  # 10 + 3*2, 20 - 1*2
    assert result.kept["fc1"].tolist() == [0] and result.kept["fc2"].tolist() == [0, 1]


def test_negative_constant_through_relu_is_zero_and_unread_unit_goes_with_its_bias():
    fc1 = g.Dense("fc1", np.array([[1], [0], [4]], np.float32), np.array([0, -3, 7], np.float32))
    fc2 = g.Dense("fc2", np.array([[1, 5, 0]], np.float32), np.array([1], np.float32))
    result = compact(g.Graph([fc1, g.Activation("relu"), fc2], (1,)))
    assert result.kept["fc1"].tolist() == [0]  # unit 1 dead (relu(-3) = 0), unit 2 unread
    assert result.graph.layers()[1].bias.tolist() == [1]


def test_dead_unit_before_padded_conv_is_kept_unless_its_constant_is_zero():
    model = sparsify(ConvChain(padding=1), seed=3, dead=0.0, unread=0.0)
    with torch.no_grad():
        model.body[1].weight[0] = 0
        model.body[1].bias[0] = 1.0  # relu(1) = 1: the padded border would see 0, not 1
        model.body[1].weight[1] = 0
        model.body[1].bias[1] = -1.0  # relu(-1) = 0: nothing to fold
    kept = compact(g.trace(model, (1, 12, 12))).kept["body.1"].tolist()
    assert 0 in kept and 1 not in kept


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), padding=st.sampled_from([0, 1]), caffe=st.booleans(),
       tanh=st.booleans(), density=st.floats(0.05, 0.9))
def test_compact_model_computes_the_same_scores(seed, padding, caffe, tanh, density):
    torch.manual_seed(seed)
    model = sparsify(ConvChain(padding=padding, caffe=caffe, activation=nn.Tanh if tanh else nn.ReLU),
                     seed, density=density)
    graph = g.trace(model, (1, 12, 12))
    result = compact(graph)
    x = torch.rand(16, 1, 12, 12, generator=torch.Generator().manual_seed(seed))
    original, small = outputs(model, x), outputs(to_module(result.graph), x)
    assert torch.allclose(original, small, rtol=1e-4, atol=1e-4)
    for before, after in zip(graph.layers(), result.graph.layers()):
        units = result.kept[before.name]
        assert after.weight.shape[0] == units.size >= 1
        assert np.all(np.diff(units) > 0)  # ascending original indices
    assert result.graph.macs()["nonzero"] <= graph.macs()["nonzero"]
    again = compact(result.graph)  # nothing left to drop
    assert again.graph.architecture() == result.graph.architecture()


def test_every_weight_dead_leaves_one_unit_per_layer_and_the_bias_path():
    model = ConvChain()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.weight.zero_()
    result = compact(g.trace(model, (1, 12, 12)))
    assert result.graph.architecture() == "1-1-1-4"
    x = torch.rand(3, 1, 12, 12)
    assert torch.allclose(outputs(model.eval(), x), outputs(to_module(result.graph), x), atol=1e-5)


@pytest.mark.parametrize("name", list(models.REGISTRY))
def test_dense_registry_models_compact_to_themselves(name):
    torch.manual_seed(0)
    model = models.build(name).eval()
    graph = g.trace(model)
    assert compact(graph).graph.architecture() == graph.architecture()
