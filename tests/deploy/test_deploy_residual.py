"""Models that branch: residual adds (identity and 1x1-convolution shortcuts) and concatenations
along the channels, traced into a Graph with Merge operations, compacted without loss, stored in a
file that decodes without the user's class, exported to ONNX and run by the float C engine as
PyTorch runs them; the integer engine refuses them in one line."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from prunelab.compress import compact_graph, load_into, pack_compact
from prunelab.compression import CompressedModel
from prunelab.deploy import cgraph, cplan, opspec
from prunelab.deploy import graph as g
from prunelab.deploy.batchnorm import fold_batchnorm
from prunelab.deploy.compact import compact
from prunelab.deploy.engine import Engine, compiler
from prunelab.deploy.module import to_module
from prunelab.errors import PrunelabError
from prunelab.export import onnx_bytes


class Block(nn.Module):
    def __init__(self, channels_in, channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or channels_in != channels:
            self.shortcut = nn.Sequential(nn.Conv2d(channels_in, channels, 1, stride, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class ResNetish(nn.Module):
    """ResNet-8's shape (MLPerf Tiny's image classifier), small: a stem, a block with an identity
    shortcut, a block with a strided 1x1 shortcut, global average pooling, one linear layer."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.block1 = Block(6, 6, 1)
        self.block2 = Block(6, 8, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.block2(self.block1(F.relu(self.bn(self.stem(x)))))
        return self.fc(torch.flatten(self.pool(x), 1))


class Inceptionish(nn.Module):
    """Two branches joined along the channels, one of them branching again into an add."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 3, 1)
        self.b = nn.Conv2d(1, 4, 3, padding=1)
        self.b2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(7 * 5 * 5, 10)

    def forward(self, x):
        b = F.relu(self.b(x))
        b = b + self.b2(b)
        x = torch.cat([F.relu(self.a(x)), b], dim=1)
        x = F.max_pool2d(x, 2)
        return self.fc(x.view(x.size(0), -1))


def trained_like(model):
    """Random BatchNorm statistics, as training leaves them, in eval mode."""
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.mark.parametrize("make, shape", [(ResNetish, (1, 12, 12)), (Inceptionish, (1, 10, 10))])
def test_a_branching_model_traces_to_merges_that_compute_what_it_computes(make, shape):
    torch.manual_seed(1)
    model = trained_like(make())
    graph = g.trace(model, shape)
    assert not graph.is_chain()
    x = torch.rand(32, *shape)
    with torch.no_grad():
        assert torch.allclose(to_module(graph)(x), model(x), atol=1e-5)


def test_the_residual_blocks_become_adds_with_their_shortcuts():
    graph = g.trace(trained_like(ResNetish()), (1, 12, 12))
    merges = [op for op in graph.ops if isinstance(op, g.Merge)]
    assert [m.kind for m in merges] == ["add", "add"]
    assert merges[0].branches[1] == ()  # identity shortcut
    assert [op.name for op in merges[1].branches[1]] == ["block2.shortcut.0"]
    assert [op.name for op in graph.layers()] == ["stem", "block1.conv1", "block1.conv2", "block2.conv1",
                                                  "block2.conv2", "block2.shortcut.0", "fc"]
    assert graph.architecture() == "6-6-6-8-8-8-10"


def test_an_adds_branches_follow_the_order_the_model_registers_their_layers():
    class ShortcutFirst(Block):
        def forward(self, x):  # the shortcut's term first: its layer is still stored after the body's
            return F.relu(self.shortcut(x) + self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))

    graph = g.trace(trained_like(ShortcutFirst(4, 6, 2)), (4, 8, 8))
    assert [op.name for op in graph.layers()] == ["conv1", "conv2", "shortcut.0"]


def test_branches_that_do_not_meet_are_refused_in_one_line():
    class TwoOutputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 2), nn.Linear(4, 2)

        def forward(self, x):
            return self.a(x), self.b(x)

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)

        def forward(self, x):
            return self.a(x) + 1

    with pytest.raises(PrunelabError, match="do not meet again"):
        g.trace(TwoOutputs(), (4,))
    with pytest.raises(PrunelabError, match="add"):
        g.trace(Scaled(), (4,))


def test_compaction_drops_dead_units_inside_a_branch_only_and_changes_no_score():
    torch.manual_seed(2)
    model = trained_like(ResNetish())
    with torch.no_grad():
        model.block1.conv1.weight[:3] = 0  # three dead units inside the residual body, constant 0 after ReLU
        model.block1.bn1.running_mean[:3], model.block1.bn1.bias[:3] = 0.0, -0.5
        model.stem.weight[:2] = 0  # dead, but the stem's output feeds a residual add: tied, kept
    graph = g.trace(model, (1, 12, 12))
    result = compact(graph)
    assert result.graph.architecture() == "6-3-6-8-8-8-10"
    assert list(result.kept["block1.conv1"]) == [3, 4, 5]
    x = torch.rand(64, 1, 12, 12)
    with torch.no_grad():
        assert torch.allclose(to_module(result.graph)(x), model(x), atol=1e-5)


def test_the_graph_spec_of_merges_round_trips_and_crafted_ones_are_refused():
    graph = g.trace(trained_like(Inceptionish()), (1, 10, 10))
    spec = opspec.to_spec(graph)
    shapes = {op.name: op.weight.shape for op in graph.layers()}
    again = opspec.to_spec(g.Graph(opspec.skeleton(spec, shapes), graph.input_shape))
    assert again == spec and spec[0]["op"] == "merge" and spec[0]["kind"] == "concat"
    nested = [{"op": "merge", "kind": "add", "branches": [[], []]}]
    for _ in range(20):
        nested = [{"op": "merge", "kind": "add", "branches": [nested, []]}]
    for bad in ([{"op": "merge", "kind": "mul", "branches": [[], []]}], [{"op": "merge", "kind": "add", "branches": [[]]}],
                [{"op": "merge", "kind": "add", "branches": "x"}], nested):
        with pytest.raises(PrunelabError, match="merge|list of operations"):
            opspec.skeleton(bad + spec, shapes)


@pytest.mark.parametrize("make, shape", [(ResNetish, (1, 12, 12)), (Inceptionish, (1, 10, 10))])
def test_a_branching_model_goes_through_the_file_onnx_and_back_into_its_module(make, shape):
    onnxruntime = pytest.importorskip("onnxruntime")
    torch.manual_seed(3)
    model = trained_like(make())
    with torch.no_grad():
        for module in model.modules():  # pruned and weight-shared: 16 values a layer
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                w = module.weight
                w.copy_(torch.round(w * 8) / 8)
                w[w.abs() < 0.1] = 0
    graph = g.trace(model, shape)
    bits = {op.name: 6 for op in graph.layers()}
    packed = pack_compact(model, "user_nets:branching", bits, 0, {"input_shape": list(shape)}, shape)
    compressed = CompressedModel.from_bytes(packed.to_bytes())
    assert compressed.metadata["graph"] == opspec.to_spec(graph)
    x = torch.rand(40, *shape)
    with torch.no_grad():
        expected = model(x)
        own = to_module(compact_graph(compressed))(x)  # without the user's class
        back = load_into(compressed, fold_batchnorm(trained_like(make())))(x)
    assert torch.allclose(own, expected, atol=1e-4) and torch.allclose(back, expected, atol=1e-4)
    session = onnxruntime.InferenceSession(onnx_bytes(to_module(compact_graph(compressed)), shape))
    scores = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert np.allclose(scores, expected.numpy(), atol=1e-4)


@pytest.mark.parametrize("make, shape", [(ResNetish, (1, 12, 12)), (Inceptionish, (1, 10, 10))])
def test_the_float_c_engine_runs_a_branching_graph_as_pytorch_does(make, shape):
    if compiler() is None:
        pytest.skip("no C compiler")
    torch.manual_seed(4)
    model = trained_like(make())
    graph = compact(g.trace(model, shape)).graph
    x = torch.rand(37, *shape)
    with torch.no_grad():
        expected = model(x).numpy()
    for weights, batch in (("float", 1), ("float", 8), ("codebook", 4)):
        scores = Engine(graph, weights=weights, batch=batch).scores(x.numpy())
        assert np.abs(scores - expected).max() < 1e-5 * max(1.0, np.abs(expected).max())
    pixels = (x.numpy() * 255).round().astype(np.uint8)
    engine = Engine(graph, weights="codebook", batch=1)
    with torch.no_grad():
        classes = model(torch.from_numpy(pixels.astype(np.float32) / 255)).argmax(1).numpy()
    assert [engine.classify(p) for p in pixels] == classes.tolist()


def test_buffers_are_reused_once_a_value_is_read_and_a_residual_input_lives_through_its_body():
    plan = cgraph.schedule(compact(g.trace(trained_like(ResNetish()), (1, 12, 12))).graph)
    kinds = [step.kind for step in plan.steps]
    # stem; block1: conv1, conv2, add, ReLU; block2: conv1, conv2, shortcut, add, ReLU + pooling + flatten; fc
    assert kinds == ["layer", "layer", "layer", "sum", "post", "layer", "layer", "layer", "sum", "post", "layer"]
    block_input = plan.steps[1].sources[0]  # the stem's output (after its ReLU), read by block1.conv1 and the add
    body = [plan.steps[1].target, plan.steps[2].target]
    assert block_input in plan.steps[3].sources
    assert plan.slots[block_input] not in [plan.slots[v] for v in body]
    assert len(plan.slot_floats) < len(plan.shapes)  # buffers shared between values whose lives do not overlap
    assert plan.pads[plan.steps[5].sources[0]] == 1  # block2's input: read by a 3x3 (padding 1) and a 1x1 conv


def test_the_integer_engine_refuses_a_branching_graph_in_one_line():
    graph = g.trace(trained_like(ResNetish()), (1, 12, 12))
    with pytest.raises(PrunelabError, match="integer engine runs a chain of layers; this model's residual adds"):
        cplan.plan(graph)


@pytest.mark.parametrize("flatten", [lambda x: x.view(x.size(0), -1), lambda x: x.view(x.shape[0], -1),
                                     lambda x: x.reshape(-1, 2 * 6 * 6), lambda x: torch.reshape(x, (x.size(0), -1))])
def test_a_view_or_reshape_that_flattens_each_example_is_a_flatten(flatten):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(1, 2, 3), nn.Linear(2 * 6 * 6, 3)

        def forward(self, x):
            return self.fc(flatten(torch.relu(self.conv(x))))

    assert [type(op).__name__ for op in g.trace(Net(), (1, 8, 8)).ops] == ["Conv", "Activation", "Flatten", "Dense"]


def test_a_view_that_mixes_examples_is_refused():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(32, 3)

        def forward(self, x):
            return self.fc(x.view(-1, 32))  # 64 values an example: two rows per example

    with pytest.raises(PrunelabError, match="mixes examples"):
        g.trace(Mixed(), (1, 8, 8))


def test_the_command_line_exports_a_branching_file_to_c_and_refuses_int8_in_one_line(tmp_path, capsys):
    from prunelab.cli.main import main

    model = trained_like(ResNetish())
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.weight.copy_(torch.round(module.weight * 8) / 8)
    bits = {op.name: 6 for op in g.trace(model, (1, 12, 12)).layers()}
    path = tmp_path / "resnet.plc"
    path.write_bytes(pack_compact(model, "user_nets:resnetish", bits, 0, {"input_shape": [1, 12, 12]},
                                  (1, 12, 12)).to_bytes())
    assert main(["export", str(path), "--format", "c", "--output", str(tmp_path / "c")]) == 0
    assert "static float buf" in (tmp_path / "c" / "user_nets_resnetish.c").read_text()
    capsys.readouterr()
    assert main(["export", str(path), "--format", "c", "--arithmetic", "int8", "--output", str(tmp_path / "i")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("prunelab: error:")]
    assert len(errors) == 1 and "integer engine runs a chain of layers" in errors[0]
