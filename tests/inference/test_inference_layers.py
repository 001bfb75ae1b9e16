"""CSRLinear and CSRConv2d against F.linear and F.conv2d on random shapes and densities (hypothesis)."""

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from prunelab.inference import layers
from prunelab.inference.layers import CSRConv2d, CSRLinear


def sparsify(module: nn.Module, density: float, seed: int) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        module.weight.mul_(torch.rand(module.weight.shape, generator=generator) < density)
    return module


leading_shapes = st.lists(st.integers(1, 4), min_size=1, max_size=2)  # (N, in) and (A, N, in), N = 1 included


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 24), st.integers(1, 24), leading_shapes, st.floats(0, 1), st.booleans(), st.integers(0, 99))
def test_csr_linear_equals_linear(inputs, outputs, leading, density, bias, seed):
    torch.manual_seed(seed)
    linear = sparsify(nn.Linear(inputs, outputs, bias=bias), density, seed)
    x = torch.randn(*leading, inputs)
    torch.testing.assert_close(CSRLinear(linear)(x), linear(x), rtol=1e-5, atol=1e-5)


conv_settings = st.fixed_dictionaries({
    "in_channels": st.integers(1, 4), "out_channels": st.integers(1, 4),
    "kernel_size": st.tuples(st.integers(1, 4), st.integers(1, 4)),
    "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
    "padding": st.tuples(st.integers(0, 2), st.integers(0, 2)),
    "dilation": st.tuples(st.integers(1, 2), st.integers(1, 2)),
    "bias": st.booleans(),
})


@settings(max_examples=80, deadline=None)
@given(conv_settings, st.integers(1, 3), st.integers(9, 14), st.floats(0, 1), st.integers(0, 99))
def test_csr_conv_equals_conv(options, batch, size, density, seed):
    torch.manual_seed(seed)
    conv = sparsify(nn.Conv2d(**options), density, seed)
    x = torch.randn(batch, options["in_channels"], size, size + 1)
    torch.testing.assert_close(CSRConv2d(conv)(x), conv(x), rtol=1e-5, atol=1e-5)


def test_csr_conv_in_one_image_chunks_and_on_a_channels_last_input(monkeypatch):
    monkeypatch.setattr(layers, "CHUNK_BYTES", 1)  # every image its own chunk
    conv = sparsify(nn.Conv2d(3, 5, 3, padding=1), 0.3, seed=1)
    x = torch.randn(4, 3, 10, 10).to(memory_format=torch.channels_last)
    torch.testing.assert_close(CSRConv2d(conv)(x), conv(x), rtol=1e-5, atol=1e-5)


def test_all_zero_weights_leave_the_bias():
    linear = nn.Linear(4, 3)
    conv = nn.Conv2d(2, 3, 3)
    for module in (linear, conv):
        with torch.no_grad():
            module.weight.zero_()
    assert torch.equal(CSRLinear(linear)(torch.randn(2, 4)), linear.bias.detach().expand(2, 3))
    out = CSRConv2d(conv)(torch.randn(2, 2, 5, 5))
    assert torch.equal(out, conv.bias.detach()[None, :, None, None].expand(2, 3, 3, 3))
