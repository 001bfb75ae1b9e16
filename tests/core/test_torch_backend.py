"""Differential tests: our criteria and torch.nn.utils.prune choose the same weights."""

import copy

import torch

from prunelab import models
from prunelab.pruning import criteria, torch_backend
from prunelab.pruning.mask import Mask


def trained_like_model(seed=0):
    torch.manual_seed(seed)
    return models.build("lenet5")


def test_per_layer_masks_equal_l1_unstructured_over_iterative_rounds():
    model = trained_like_model()
    theirs = copy.deepcopy(model)
    mask = Mask.ones_like(model)
    for target in (0.5, 0.75, 0.9):
        mask = criteria.magnitude_per_layer(dict(model.named_parameters()), mask, target)
        mask.apply_to(model)
        torch_mask = torch_backend.prune_per_layer(theirs, target)
        for name in mask:
            assert torch.equal(mask[name], torch_mask[name]), (target, name)


def test_global_masks_equal_global_unstructured():
    model = trained_like_model(1)
    theirs = copy.deepcopy(model)
    ours = criteria.magnitude_global(dict(model.named_parameters()), Mask.ones_like(model), 0.8, min_keep=0.0)
    torch_mask = torch_backend.prune_global(theirs, 0.8)
    for name in ours:
        assert torch.equal(ours[name], torch_mask[name]), name


def test_make_permanent_leaves_a_plain_state_dict_that_loads_strictly():
    model = trained_like_model()
    mask = torch_backend.prune_per_layer(model, 0.7)
    torch_backend.make_permanent(model)
    state = model.state_dict()
    assert not any(k.endswith(("weight_orig", "weight_mask")) for k in state)
    fresh = models.build("lenet5")
    fresh.load_state_dict(state, strict=True)
    for name, keep in mask.items():
        assert torch.all(state[name][~keep] == 0)
        assert torch.count_nonzero(state[name]) == keep.sum()
