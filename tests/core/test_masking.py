import pytest
import torch
import torch.nn.functional as F

from prunelab import models
from prunelab.pruning import criteria
from prunelab.pruning.mask import Mask
from prunelab.training.masking import MaskEnforcer


@pytest.mark.parametrize("make_optimizer", [
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=5e-4),
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
])
def test_pruned_weights_stay_exactly_zero_through_momentum_and_weight_decay(make_optimizer):
    torch.manual_seed(0)
    model = models.build("lenet5")
    optimizer = make_optimizer(model.parameters())
    x, y = torch.rand(32, 1, 28, 28), torch.randint(0, 10, (32,))
    for _ in range(3):  # build up momentum while dense
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    mask = criteria.magnitude_per_layer(dict(model.named_parameters()), Mask.ones_like(model), 0.8)
    enforce = MaskEnforcer(model, mask)
    params = dict(model.named_parameters())
    for _ in range(5):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        enforce(model, optimizer)
        for name, keep in mask.items():
            assert torch.all(params[name][~keep] == 0)
            for state in optimizer.state[params[name]].values():
                if isinstance(state, torch.Tensor) and state.shape == keep.shape:
                    assert torch.all(state[~keep] == 0)
    assert all(torch.count_nonzero(params[n][k]) == k.sum() for n, k in mask.items())
