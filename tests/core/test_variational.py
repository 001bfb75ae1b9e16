"""Sparse Variational Dropout: the KL approximation, eval equals the masked plain model, sparsity grows."""

import pytest
import torch
import torch.nn.functional as F

from prunelab import models
from prunelab.pruning import variational as vd


def test_kl_vanishes_for_pure_noise_and_grows_for_precise_weights():
    layer = vd.VariationalLinear(torch.nn.Linear(4, 3))
    with torch.no_grad():
        layer.original.weight.fill_(0.1)
        layer.log_sigma2.fill_(torch.log(torch.tensor(0.01)) + 10.0)  # log alpha = 10 (clamped max)
    one = vd.K1 * torch.sigmoid(torch.tensor(vd.K2 + vd.K3 * 10.0)) - 0.5 * F.softplus(torch.tensor(-10.0)) - vd.K1
    assert float(layer.kl().detach()) == pytest.approx(-12 * float(one), rel=1e-4)
    assert float(layer.kl().detach()) < 1e-2
    with torch.no_grad():
        layer.log_sigma2.fill_(torch.log(torch.tensor(0.01)) - 8.0)  # log alpha = -8
    assert float(layer.kl().detach()) > 12 * 3.0


@pytest.mark.parametrize("name", list(models.REGISTRY))
def test_eval_output_equals_the_plain_model_built_from_its_state_dict(name):
    torch.manual_seed(0)
    model = models.build(name).eval()
    variational = vd.make_variational(model).eval()
    with torch.no_grad():  # make some weights noisy enough to be pruned
        for m in variational.modules():
            if isinstance(m, vd.VariationalLayer):
                m.log_sigma2.copy_(torch.where(torch.rand_like(m.log_sigma2) < 0.5, 5.0, -20.0))
    plain = models.build(name)
    plain.load_state_dict(vd.plain_state_dict(variational), strict=True)
    x = torch.rand(8, 1, 28, 28)
    torch.testing.assert_close(plain.eval()(x), variational(x))
    masks = vd.masks_of(variational)
    params = dict(plain.named_parameters())
    assert all(torch.all(params[n][~k] == 0) for n, k in masks.items())
    assert 0.3 < 1 - sum(int(k.sum()) for k in masks.values()) / sum(k.numel() for k in masks.values()) < 0.7


def test_training_with_the_kl_term_makes_the_model_sparser():
    torch.manual_seed(0)
    model = vd.make_variational(models.build("lenet-300-100")).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))

    def sparsity():
        masks = vd.masks_of(model)
        return 1 - sum(int(k.sum()) for k in masks.values()) / sum(k.numel() for k in masks.values())

    start = sparsity()  # only weights already within ~1e-3 of zero count as noise at the start
    assert start < 0.1
    for _ in range(30):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y) + vd.total_kl(model) / 1000
        loss.backward()
        optimizer.step()
    assert sparsity() > start + 0.1
