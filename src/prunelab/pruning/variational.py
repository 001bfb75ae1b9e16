"""Sparse Variational Dropout (Molchanov, Ashukha & Vetrov 2017) as a pruning method.

Every weight w gets a multiplicative Gaussian noise with its own variance: q(w) = N(theta,
alpha theta^2), parameterised by theta and log sigma^2 = log(alpha theta^2) (their eq. 13, the
additive reparameterisation). Training minimises the data loss plus the KL divergence to the
log-uniform prior, approximated as in their eq. 14. Weights whose log alpha exceeds 3 carry
mostly noise and are pruned: the mask is log_alpha < 3.

Layers use the local reparameterisation trick: the pre-activations are sampled, not the weights.
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn

LOG_ALPHA_THRESHOLD = 3.0
K1, K2, K3 = 0.63576, 1.87320, 1.48695  # eq. 14


def negative_kl(log_alpha: torch.Tensor) -> torch.Tensor:
    """-KL(N(theta, alpha theta^2) || log-uniform) per entry, eq. 14; it depends on alpha only."""
    return K1 * torch.sigmoid(K2 + K3 * log_alpha) - 0.5 * F.softplus(-log_alpha) - K1


class VariationalLayer(nn.Module):
    """Shared parts of the linear and convolutional versions; `original` is kept for its shape."""

    def __init__(self, original: nn.Module):
        super().__init__()
        self.original = copy.deepcopy(original)  # holds weight and bias as ordinary parameters
        connections = getattr(original, "connections", None)
        self.register_buffer("connections", connections if connections is not None else torch.ones(()))
        # start with small noise: log sigma^2 = -10 gives alpha ~ 1e-4 theta^-2 for typical weights
        self.log_sigma2 = nn.Parameter(torch.full_like(original.weight, -10.0))

    @property
    def weight(self):
        return self.original.weight * self.connections

    def log_alpha(self) -> torch.Tensor:
        return torch.clamp(self.log_sigma2 - torch.log(self.weight ** 2 + 1e-8), -10.0, 10.0)

    def keep(self) -> torch.Tensor:
        return (self.log_alpha() < LOG_ALPHA_THRESHOLD) & (self.connections.expand_as(self.weight) > 0)

    def kl(self) -> torch.Tensor:
        """Sum over weights of KL(q || log-uniform prior), eq. 14."""
        log_alpha = self.log_alpha()
        return -(negative_kl(log_alpha) * (self.connections.expand_as(log_alpha) > 0)).sum()

    def unit_kl(self) -> torch.Tensor:
        """The KL of a noise per unit (svd-units' layers); these layers have none."""
        return self.log_sigma2.new_zeros(())

    def plain(self) -> dict:
        """The plain layer's parameters at evaluation: theta x mask, and the bias as it is."""
        return {"weight": self.weight * self.keep(), "bias": self.original.bias}

    def forward(self, x):
        if not self.training:
            return self.compute(x, self.weight * self.keep())
        mean = self.compute(x, self.weight, self.original.bias)
        variance = self.compute(x * x, torch.exp(self.log_sigma2) * self.connections, None)
        return mean + torch.sqrt(variance + 1e-8) * torch.randn_like(mean)


class VariationalLinear(VariationalLayer):
    def compute(self, x, weight, bias="default"):
        return F.linear(x, weight, self.original.bias if bias == "default" else bias)


class VariationalConv2d(VariationalLayer):
    def compute(self, x, weight, bias="default"):
        o = self.original
        return F.conv2d(x, weight, o.bias if bias == "default" else bias, o.stride, o.padding, o.dilation, o.groups)


def replace_layers(model: nn.Module, make) -> nn.Module:
    """A copy of `model` with every Conv2d and Linear replaced by ``make(module, last)``; `last` is
    True for the last of them in module order, taken as the classifier."""
    model = copy.deepcopy(model)
    names = [name for name, module in model.named_modules() if isinstance(module, (nn.Conv2d, nn.Linear))]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, make(model.get_submodule(name), name == names[-1]))
    return model


def weight_noise(module: nn.Module, last: bool = False) -> VariationalLayer:
    return VariationalConv2d(module) if isinstance(module, nn.Conv2d) else VariationalLinear(module)


def make_variational(model: nn.Module) -> nn.Module:
    """A copy of `model` with every Conv2d and Linear replaced by its variational version."""
    return replace_layers(model, weight_noise)


def total_kl(model: nn.Module, unit_scale: float = 1.0, layer_factors: dict | None = None) -> torch.Tensor:
    """The weights' KL plus the units' (svd-units) weighed by `unit_scale` (1: the variational bound);
    ``layer_factors`` ({"conv1.weight": 8.0}) multiplies a layer's weights' KL (others 1): a cost
    per weight, e.g. the multiplies a weight of that layer costs an image, makes Sparse VD prune
    the costly layers harder."""
    factors = layer_factors or {}
    return sum(factors.get(f"{name}.weight", 1.0) * m.kl() + unit_scale * m.unit_kl()
               for name, m in model.named_modules() if isinstance(m, VariationalLayer))


def masks_of(model: nn.Module) -> dict:
    """Layer weight name (as in the plain model) -> boolean keep mask."""
    return {f"{name}.weight": m.keep().detach().cpu() for name, m in model.named_modules()
            if isinstance(m, VariationalLayer)}


def plain_state_dict(model: nn.Module) -> dict:
    """The plain model's state_dict: each layer's ``plain()`` weight and bias, buffers as they are."""
    layers = {name for name, m in model.named_modules() if isinstance(m, VariationalLayer)}
    state = {}
    for key, value in model.state_dict().items():
        layer, _, leaf = key.rpartition(".")
        if layer in layers:  # the variational layer's own log_sigma2 and connections copy
            continue
        if layer.endswith(".original") and layer.removesuffix(".original") in layers:
            layer = layer.removesuffix(".original")
            module = model.get_submodule(layer)
            value = module.plain()[leaf].detach() if leaf in ("weight", "bias") else value
        state[f"{layer}.{leaf}" if layer else leaf] = value
    return state


def live_units(model: nn.Module) -> dict:
    """Layer name -> how many of its output units keep at least one weight (the rest compaction
    removes, folding their constant into the next layer)."""
    return {name: int(m.keep().flatten(1).any(1).sum()) for name, m in model.named_modules()
            if isinstance(m, VariationalLayer)}
