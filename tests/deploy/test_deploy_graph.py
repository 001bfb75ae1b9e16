"""Tracing a model into a chain of plain operations, and refusing what is not one."""

import pytest
import torch
import torch.nn.functional as F
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


class ExamplesNet(nn.Module):
    """pytorch/examples' MNIST Net as a user pastes it (narrower): functional forward, dropout,
    log_softmax output."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 4, 3, 1), nn.Conv2d(4, 8, 3, 1)
        self.dropout1, self.dropout2 = nn.Dropout(0.25), nn.Dropout(0.5)
        self.fc1, self.fc2 = nn.Linear(8 * 12 * 12, 16), nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(self.dropout1(x), 1)
        x = F.dropout(F.relu(self.fc1(x)), 0.1, self.training)
        return F.log_softmax(self.fc2(self.dropout2(x)), dim=1)


class SoftmaxInside(ExamplesNet):
    def forward(self, x):
        x = F.softmax(F.relu(self.conv1(x)), dim=1)
        return self.fc2(F.relu(self.fc1(torch.flatten(F.max_pool2d(F.relu(self.conv2(x)), 2), 1))))


def test_dropout_is_dropped_and_a_final_log_softmax_keeps_the_class():
    """The graph computes the scores before the softmax: the same class, the same ordering."""
    torch.manual_seed(0)
    model = ExamplesNet().eval()
    graph = g.trace(model)
    assert graph.architecture() == "4-8-16-10"
    x = torch.rand(64, 1, 28, 28)
    with torch.no_grad():
        scores, expected = to_module(graph)(x), model(x)
    assert torch.allclose(F.log_softmax(scores, dim=1), expected, atol=1e-5)
    with pytest.raises(PrunelabError, match="softmax is supported only as the last operation"):
        g.trace(SoftmaxInside())
    with pytest.raises(PrunelabError, match="over the scores .dim 1., not dim 0"):
        g.trace(nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.LogSoftmax(dim=0)))


class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) * x


@pytest.mark.parametrize("module, message", [
    (nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.Sigmoid()), "Sigmoid is not supported"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2)), "only plain convolutions"),
    (nn.Sequential(nn.MaxPool2d(2, padding=1)), "padding"),
    (Gated(), "mul reads values the supported operations do not"),
])
def test_unsupported_models_are_refused_by_name(module, message):
    with pytest.raises(PrunelabError, match=message):
        g.trace(module, (1, 4, 4) if not isinstance(module, Gated) else (4,))


class AllConv(nn.Module):
    """Convolutions, then global average pooling and one linear layer (MLPerf Tiny's classifiers'
    ending), in module and functional form."""

    def __init__(self, functional=False):
        super().__init__()
        self.functional = functional
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 3), nn.Conv2d(6, 8, 3, stride=2)
        self.pool, self.fc = nn.AdaptiveAvgPool2d((1, 1)), nn.Linear(8, 4)

    def forward(self, x):
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        x = F.adaptive_avg_pool2d(x, 1) if self.functional else self.pool(x)
        return self.fc(torch.flatten(x, 1))


@pytest.mark.parametrize("functional", [False, True])
def test_global_average_pooling_is_an_average_over_the_whole_map(functional):
    torch.manual_seed(0)
    model = AllConv(functional).eval()
    graph = g.trace(model, (1, 12, 12))
    assert g.Pool("avg", (4, 4), (4, 4)) in graph.ops  # 12 -> 10 -> 4 after conv2 at stride 2
    x = torch.rand(16, 1, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(to_module(graph)(x), model(x), atol=1e-5, rtol=0)
    with pytest.raises(PrunelabError, match="adaptive average pooling is supported to 1x1"):
        g.trace(nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(2)), (1, 6, 6))


def test_global_average_pooling_runs_in_the_float_and_integer_c():
    import numpy as np

    from prunelab.deploy import calibrate, intplan, intref
    from prunelab.deploy.compact import compact
    from prunelab.deploy.engine import Engine, IntEngine, compiler

    if compiler() is None:
        pytest.skip("no C compiler on this machine (set CC or install gcc)")
    torch.manual_seed(0)
    model = AllConv().eval()
    graph = compact(g.trace(model, (1, 12, 12))).graph
    x = torch.rand(50, 1, 12, 12)
    with torch.no_grad():
        expected = model(x).numpy()
    assert np.abs(Engine(graph, weights="float", batch=8).scores(x.numpy()) - expected).max() < 1e-5
    images = (x.numpy() * 255).astype(np.uint8)
    plan = intplan.int_plan(graph, calibrate.activation_ranges(graph, images))
    assert np.array_equal(IntEngine(plan).scores(images), intref.scores(plan, images))


class DepthwiseSeparable(nn.Module):
    """A DS-CNN-style model (MLPerf Tiny's keyword spotter's shape): a depthwise 3x3 convolution
    (groups = channels), then a pointwise 1x1 one, then global average pooling."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.depthwise = nn.Conv2d(6, 6, 3, padding=1, groups=6)
        self.pointwise = nn.Conv2d(6, 8, 1)
        self.grouped = nn.Conv2d(8, 8, 3, groups=2)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.pointwise(torch.relu(self.depthwise(x))))
        x = torch.relu(self.grouped(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def test_grouped_and_depthwise_convolutions_trace_compact_and_run_in_c():
    import numpy as np

    from prunelab.deploy import calibrate, intplan, intref
    from prunelab.deploy.compact import compact
    from prunelab.deploy.engine import Engine, IntEngine, compiler

    torch.manual_seed(0)
    model = DepthwiseSeparable().eval()
    with torch.no_grad():
        model.conv1.weight[2] = 0  # a dead unit read by the depthwise layer: tied to its group, kept
        model.pointwise.weight[:, 4] = 0
    graph = g.trace(model, (1, 12, 12))
    assert [op.groups for op in graph.layers() if isinstance(op, g.Conv)] == [1, 6, 1, 2]
    compacted = compact(graph).graph
    assert compacted.architecture() == "6-6-8-8-4"
    x = torch.rand(32, 1, 12, 12)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(to_module(compacted)(x), expected, atol=1e-5, rtol=0)
    if compiler() is None:
        pytest.skip("no C compiler on this machine (set CC or install gcc)")
    assert np.abs(Engine(compacted, weights="float", batch=8).scores(x.numpy()) - expected.numpy()).max() < 1e-5
    assert np.abs(Engine(compacted, weights="codebook", batch=8).scores(x.numpy()) - expected.numpy()).max() < 1e-5
    images = (x.numpy() * 255).astype(np.uint8)
    plan = intplan.int_plan(compacted, calibrate.activation_ranges(compacted, images))
    assert np.array_equal(IntEngine(plan).scores(images), intref.scores(plan, images))


def test_a_depthwise_model_goes_through_the_api_to_a_file_and_back(tmp_path):
    """Pruned, quantized and saved: the compact file keeps every unit beside a grouped layer and
    decodes into a fresh module with the same scores, its C engine with PyTorch's classes."""
    import numpy as np

    import prunelab
    from prunelab.compression import CompressedModel
    from prunelab.deploy.compact import compact
    from prunelab.deploy.engine import Engine, compiler

    torch.manual_seed(0)
    x = torch.rand(96, 1, 12, 12)
    y = (x[:, 0, 3:9, 3:9].mean((1, 2)) * 4).long().clamp(0, 3)
    model = DepthwiseSeparable()
    mask = prunelab.prune(model, (x, y), 0.5, epochs=1, batch_size=32)
    path = prunelab.save(model, tmp_path / "ds.plc", prunelab.quantize(model, mask, (x, y)), input_shape=(1, 12, 12))
    assert CompressedModel.read(path).layer("depthwise").codebook is not None
    restored = prunelab.load(path, DepthwiseSeparable())
    with torch.no_grad():
        torch.testing.assert_close(restored(x), model.eval()(x), atol=1e-5, rtol=0)
        expected = restored(x).argmax(1).numpy()
    if compiler() is not None:
        engine = Engine(compact(g.trace(restored, (1, 12, 12))).graph, weights="codebook", batch=16)
        assert np.array_equal(engine.scores(x.numpy()).argmax(1), expected)
