"""BatchNorm folded into the layer before it: exact as eval mode computes it, pruned weights kept at
zero, and a BatchNorm CNN through the Python API to a file, its round trip and the C engine."""

import numpy as np
import pytest
import torch
from torch import nn

import prunelab
from prunelab.deploy import graph as g
from prunelab.deploy.batchnorm import fold_batchnorm
from prunelab.deploy.engine import compiler
from prunelab.deploy.module import to_module
from prunelab.errors import PrunelabError


class BNNet(nn.Module):
    """A small CNN as most are written: convolutions without bias, each followed by BatchNorm."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 3, bias=False), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(6, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
        self.fc1, self.bn, self.fc2 = nn.Linear(8 * 5 * 5, 24), nn.BatchNorm1d(24), nn.Linear(24, 4)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn(self.fc1(torch.flatten(self.features(x), 1)))))


def with_statistics(model, seed=0):
    """Running statistics and affine parameters far from their initial values, as after training."""
    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=rng))
                m.running_var.copy_(torch.rand(m.num_features, generator=rng) * 3 + 0.1)
                m.weight.copy_(torch.randn(m.num_features, generator=rng))
                m.bias.copy_(torch.randn(m.num_features, generator=rng))
    return model.eval()


def test_folding_computes_what_eval_mode_computes_and_keeps_pruned_weights_zero():
    torch.manual_seed(0)
    model = with_statistics(BNNet())
    with torch.no_grad():
        model.features[4].weight[:, :3] = 0  # pruned connections
    x = torch.rand(32, 1, 28, 28)
    with torch.no_grad():
        expected = model(x)
        folded = fold_batchnorm(model)
        got = folded(x)
        graph_scores = to_module(g.trace(folded))(x)
    assert folded is model and isinstance(model.features[1], nn.Identity) and isinstance(model.bn, nn.Identity)
    difference = float((got - expected).abs().max())
    assert difference <= 1e-4 * float(expected.abs().max())  # float rounding only
    assert torch.count_nonzero(model.features[4].weight[:, :3]) == 0
    assert model.features[0].bias is not None  # the convolution without bias got the folded one
    torch.testing.assert_close(graph_scores, got, atol=1e-5, rtol=0)


def test_trace_folds_a_copy_and_leaves_the_model_as_it_was():
    torch.manual_seed(1)
    model = with_statistics(BNNet())
    graph = g.trace(model)
    assert graph.architecture() == "6-8-24-4" and isinstance(model.features[1], nn.BatchNorm2d)
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(to_module(graph)(x), model(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("module, message", [
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.BatchNorm2d(2)), "a BatchNorm is folded into the convolution"),
    (nn.Sequential(nn.BatchNorm2d(1), nn.Conv2d(1, 2, 3)), "a BatchNorm is folded into the convolution"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, track_running_stats=False)), "without running statistics"),
])
def test_a_batchnorm_that_cannot_be_folded_is_refused_by_name(module, message):
    with pytest.raises(PrunelabError, match=message):
        g.trace(module, (1, 6, 6))


def test_a_batchnorm_cnn_goes_through_the_api_to_a_file_and_back(tmp_path):
    """Trained with BatchNorm, pruned, quantized (folded first), saved: the file decodes into a fresh
    BNNet with the quantized model's scores, and its C engine gives PyTorch's class on every image."""
    torch.manual_seed(0)
    x = torch.rand(96, 1, 28, 28)
    y = (x[:, 0, 10:18, 10:18].mean((1, 2)) * 4).long().clamp(0, 3)
    model = BNNet()
    mask = prunelab.prune(model, (x, y), 0.6, epochs=1, batch_size=32)
    codebooks = prunelab.quantize(model, mask, (x, y), conv_bits=6, fc_bits=5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # folded in place
    path = prunelab.save(model, tmp_path / "bn.plc", codebooks, input_shape=(1, 28, 28))
    restored = prunelab.load(path, BNNet())
    with torch.no_grad():
        torch.testing.assert_close(restored(x), model.eval()(x), atol=1e-4, rtol=0)
    if compiler() is not None:
        from prunelab.deploy.compact import compact
        from prunelab.deploy.engine import Engine

        engine = Engine(compact(g.trace(restored)).graph, weights="codebook", batch=16)
        with torch.no_grad():
            expected = restored(x).argmax(1).numpy()
        assert np.array_equal(engine.scores(x.numpy()).argmax(1), expected)


def test_a_model_with_one_unfoldable_batchnorm_is_left_as_it_was():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(),
                          nn.Conv2d(2, 2, 3), nn.BatchNorm2d(2, track_running_stats=False))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(PrunelabError, match="without running statistics"):
        fold_batchnorm(model)
    assert isinstance(model[1], nn.BatchNorm2d) and model[0].weight.equal(before["0.weight"])
