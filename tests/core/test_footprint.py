"""Memory counts behind the backend comparison: exact, tensor by tensor."""

import pytest

from prunelab.errors import PrunelabError
from prunelab.pruning.footprint import training_footprint

WEIGHTS = 61_470  # LeNet-5's prunable weights (all but the biases)


def test_each_backend_holds_exactly_what_its_design_implies():
    plain, ours, torch_prune = (training_footprint("lenet5", b, 0.9, 16) for b in ("plain", "prunelab", "torch"))
    # ours: a bool Mask (1 byte a weight) and the enforcer's copy in the weights' dtype (4 bytes)
    assert ours["state_bytes"] - plain["state_bytes"] == 5 * WEIGHTS
    # torch: a float weight_mask buffer and the recomputed weight beside weight_orig
    assert torch_prune["state_bytes"] - plain["state_bytes"] == 8 * WEIGHTS
    # masking after the step adds nothing to the graph; torch's pre-hook multiplication does
    assert ours["saved_for_backward_bytes"] == plain["saved_for_backward_bytes"]
    assert torch_prune["saved_for_backward_bytes"] > plain["saved_for_backward_bytes"]


def test_an_unknown_backend_is_refused():
    with pytest.raises(PrunelabError, match="unknown backend"):
        training_footprint("lenet5", "nni")
