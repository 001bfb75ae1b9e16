"""Sparse VD against the paper's formulas, computed by hand (issue 24's differential tests):
the KL approximation (Molchanov et al. 2017, eq. 14) and the local reparametrisation's mean and
variance of a pre-activation (their eq. 12 with the additive parametrisation, eq. 13)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from prunelab.pruning import variational as vd


def by_hand(log_alpha: float) -> float:
    """-KL by eq. 14: k1 sigmoid(k2 + k3 log alpha) - 0.5 log(1 + 1/alpha) - k1."""
    k1, k2, k3 = 0.63576, 1.87320, 1.48695
    return k1 / (1 + math.exp(-(k2 + k3 * log_alpha))) - 0.5 * math.log1p(math.exp(-log_alpha)) - k1


@pytest.mark.parametrize("log_alpha", [-8.0, -3.0, -1.0, 0.0, 0.5, 3.0, 8.0])
def test_the_kl_approximation_is_eq_14(log_alpha):
    got = float(vd.negative_kl(torch.tensor(log_alpha, dtype=torch.float64)))
    assert got == pytest.approx(by_hand(log_alpha), abs=1e-12)


def test_the_kl_vanishes_as_alpha_grows_and_tends_to_half_log_alpha_as_it_shrinks():
    assert abs(by_hand(30.0)) < 1e-6 and abs(float(vd.negative_kl(torch.tensor(30.0, dtype=torch.float64)))) < 1e-6
    # log alpha -> -inf: -KL ~ 0.5 log alpha + (k1 sigmoid(-inf) = 0) - k1
    small = float(vd.negative_kl(torch.tensor(-20.0, dtype=torch.float64)))
    assert small == pytest.approx(0.5 * -20.0 - 0.63576, abs=1e-6)


def test_a_linear_layers_pre_activation_has_the_papers_mean_and_variance(monkeypatch):
    """b_j = sum_i x_i theta_ij + bias_j + eps_j sqrt(sum_i x_i^2 sigma_ij^2): with eps = 0 the mean,
    with eps = 1 the mean plus one standard deviation, both against numpy by hand."""
    torch.manual_seed(0)
    layer = vd.VariationalLinear(nn.Linear(5, 3)).double()
    with torch.no_grad():
        layer.log_sigma2.uniform_(-6, 0)
    x = torch.randn(4, 5, dtype=torch.float64)
    theta, bias = layer.original.weight.detach().numpy(), layer.original.bias.detach().numpy()
    sigma2 = np.exp(layer.log_sigma2.detach().numpy())
    mean = x.numpy() @ theta.T + bias
    std = np.sqrt((x.numpy() ** 2) @ sigma2.T + 1e-8)
    layer.train()
    for eps, expected in ((0.0, mean), (1.0, mean + std)):
        monkeypatch.setattr(torch, "randn_like", lambda t, e=eps: torch.full_like(t, e))
        assert np.allclose(layer(x).detach().numpy(), expected, rtol=0, atol=1e-12)


def test_a_convolutions_pre_activation_has_the_papers_mean_and_variance(monkeypatch):
    torch.manual_seed(1)
    layer = vd.VariationalConv2d(nn.Conv2d(2, 3, 3)).double()
    with torch.no_grad():
        layer.log_sigma2.uniform_(-6, 0)
    x = torch.randn(2, 2, 5, 5, dtype=torch.float64)
    conv = nn.functional.conv2d
    mean = conv(x, layer.original.weight, layer.original.bias)
    std = torch.sqrt(conv(x * x, torch.exp(layer.log_sigma2)) + 1e-8)
    layer.train()
    for eps, expected in ((0.0, mean), (1.0, mean + std)):
        monkeypatch.setattr(torch, "randn_like", lambda t, e=eps: torch.full_like(t, e))
        assert torch.allclose(layer(x), expected, rtol=0, atol=1e-12)


def test_evaluation_uses_the_means_with_log_alpha_at_least_3_set_to_zero():
    layer = vd.VariationalLinear(nn.Linear(4, 2)).double().eval()
    with torch.no_grad():
        layer.original.weight.copy_(torch.tensor([[1.0, 0.5, 0.05, 2.0], [0.2, 1.0, 1.0, 1.0]]))
        layer.log_sigma2.fill_(math.log(0.1))  # alpha = 0.1 / theta^2: log alpha >= 3 where theta^2 <= 0.1 e^-3
    kept = layer.original.weight ** 2 > 0.1 * math.exp(-3)
    x = torch.ones(1, 4, dtype=torch.float64)
    expected = x @ (layer.original.weight * kept).T + layer.original.bias
    assert torch.allclose(layer(x), expected) and not kept.all()
