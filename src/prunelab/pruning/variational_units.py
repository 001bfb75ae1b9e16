"""Sparse VD with a noise per unit as well: group variational dropout on filters and neurons.

What it is. Every weight keeps its Sparse VD noise (``pruning.variational``: q(w) = N(theta,
alpha theta^2), log-uniform prior, Molchanov et al. 2017 eq. 14, pruned where log alpha >= 3).
On top, the pre-activation of each output unit j of every convolution and linear layer except the
classifier (the layer's output, bias included, before any nonlinearity or pooling) is multiplied
by a noise z_j with q(z_j) = N(mu_j, alpha_j mu_j^2), parameterised additively by mu_j and
log sigma_j^2 = log(alpha_j mu_j^2) as the weights are (their eq. 13), under the same log-uniform
prior and the same KL approximation (eq. 14). The units' KL is added to the weights', both over
the training-set size, times `prune.unit_kl_scale` (1 by default: the variational bound). For a
convolution the unit is a filter: one z per example and channel, shared by every position of its
map. Training samples the weights' part by the local reparameterisation trick, as Sparse VD
does, then z once per example and unit (independent across the minibatch, which is what the
local trick buys for weights). At evaluation z is its mean mu_j, which folds exactly into the
unit's weights and bias, sign included. A unit whose log alpha_j >= 3 is removed: its weights
are masked and its bias set to zero, so it outputs exactly 0 and compaction (``deploy.compact``)
drops it with its work. mu starts at 1 (the dense model's outputs on average), log alpha at -10.

How it differs from the papers it borrows from, in its simplest honest form:
- Bayesian Compression (Louizos, Ullrich & Welling 2017), group normal-Jeffreys: the same q(z),
  log-uniform prior and eq. 14 approximation, but there z scales a layer's *inputs* and the
  weights' prior is N(0, z^2) given z (a hierarchy: a weight's scale is tied to its unit's, and
  its KL is Gaussian to Gaussian), which also prunes input pixels; it then chooses bit widths
  from the posterior variances. Here the weights keep Sparse VD's own independent prior and KL,
  z sits on outputs (a unit's inputs die with the unit feeding them), and bits are chosen apart.
- Structured Bayesian Pruning (Neklyudov et al. 2017): log-normal noise (positive, so where it
  sits relative to a ReLU makes no difference) under a truncated log-uniform prior, whose KL is
  exact, pruned by signal-to-noise ratio, and no per-weight noise. Here the noise is Gaussian
  (mu may turn negative, hence before the nonlinearity), the prior untruncated with eq. 14's
  approximation, the rule log alpha >= 3, together with Sparse VD's per-weight pruning.

What that costs: with independent priors, removing a unit saves only its own KL term (a few nats,
as much as one weight's), so at weight 1 units die slowly, mostly those whose weights are dying
anyway; in Bayesian Compression a unit's death also frees its weights' KL. A `unit_kl_scale`
above 1 pushes harder; it is then a heuristic, no longer a bound.
"""

import torch
from torch import nn

from prunelab.pruning import variational
from prunelab.pruning.variational import LOG_ALPHA_THRESHOLD, VariationalConv2d, VariationalLayer, VariationalLinear


# log alpha of every unit at the start (mu = 1), as Sparse VD starts its log sigma^2. A unit dies
# mostly by mu shrinking towards 0 (log alpha = log sigma^2 - log mu^2), which Adam moves about lr
# a step whatever the start: in a pilot on LeNet-5-Caffe, starting at -4 killed as many units.
UNIT_LOG_ALPHA_START = -10.0


class UnitNoise(VariationalLayer):
    """A variational layer with a multiplicative noise per output unit (mixed into the linear and
    convolutional versions below, which say how a unit's values line up with the output)."""

    def __init__(self, original: nn.Module):
        super().__init__(original)
        units = original.weight.shape[0]  # on the weights' device, as log_sigma2 is
        self.unit_mu = nn.Parameter(original.weight.new_ones(units))
        self.unit_log_sigma2 = nn.Parameter(original.weight.new_full((units,), UNIT_LOG_ALPHA_START))

    def unit_log_alpha(self) -> torch.Tensor:
        return torch.clamp(self.unit_log_sigma2 - torch.log(self.unit_mu ** 2 + 1e-8), -10.0, 10.0)

    def unit_keep(self) -> torch.Tensor:
        return self.unit_log_alpha() < LOG_ALPHA_THRESHOLD

    def keep(self) -> torch.Tensor:
        per_weight = (-1,) + (1,) * (self.weight.dim() - 1)  # (O, 1, ...)
        return super().keep() & self.unit_keep().view(per_weight)

    def unit_kl(self) -> torch.Tensor:
        """Sum over units of KL(q(z) || log-uniform prior), eq. 14 (``total_kl`` adds it to the weights')."""
        return -variational.negative_kl(self.unit_log_alpha()).sum()

    def plain(self) -> dict:
        """mu folded in: unit j's weights times mu_j x mask, its bias times mu_j, or 0 when it is removed."""
        per_weight = (-1,) + (1,) * (self.weight.dim() - 1)
        weight = self.weight * self.keep() * self.unit_mu.view(per_weight)
        bias = self.original.bias
        if bias is not None:
            bias = bias * self.unit_mu * self.unit_keep()
        return {"weight": weight, "bias": bias}

    def forward(self, x):
        if not self.training:
            folded = self.plain()
            return self.compute(x, folded["weight"], folded["bias"])
        out = super().forward(x)  # a sample of the pre-activations under the weights' noise
        noise = torch.randn(self.noise_shape(out), dtype=out.dtype, device=out.device)
        z = self.by_unit(self.unit_mu) + self.by_unit(torch.exp(0.5 * self.unit_log_sigma2)) * noise
        return out * z


class UnitLinear(UnitNoise, VariationalLinear):
    def noise_shape(self, out):  # (N, 1, ..., O): one z per example and output feature
        return (out.shape[0],) + (1,) * (out.dim() - 2) + (out.shape[-1],)

    def by_unit(self, values):
        return values


class UnitConv2d(UnitNoise, VariationalConv2d):
    def noise_shape(self, out):  # (N, C, 1, 1): one z per example and filter, shared over positions
        return (out.shape[0], out.shape[1], 1, 1)

    def by_unit(self, values):
        return values.view(-1, 1, 1)


def unit_noise(module: nn.Module, last: bool) -> VariationalLayer:
    """The classifier (`last`) keeps every output: its units are the classes."""
    if last:
        return variational.weight_noise(module)
    return UnitConv2d(module) if isinstance(module, nn.Conv2d) else UnitLinear(module)


def make_variational_units(model: nn.Module) -> nn.Module:
    """A copy of `model` with weight noise everywhere and unit noise on every layer but the last."""
    return variational.replace_layers(model, unit_noise)
