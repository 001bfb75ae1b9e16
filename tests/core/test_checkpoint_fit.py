"""A checkpoint is trusted only when it fits its stage (issue 23): one that claims epoch 999 of 3,
lacks a key, holds another architecture, a list or a string where a number belongs is said so,
removed, and the stage starts over with nothing of it loaded."""

import pytest
import torch
from torch import nn

from prunelab.runs import checkpoint


def fresh():
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def good_state():
    model, optimizer = fresh()
    with torch.no_grad():
        model.weight.fill_(0.5)
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 2, "seconds": 1.5}


@pytest.mark.parametrize("change, reason", [
    ({"epoch": 999}, "epoch 999 is not a finished epoch of 3"),
    ({"epoch": "2"}, "epoch '2' is not a finished epoch"),
    ({"seconds": "soon"}, "seconds 'soon' is not a duration"),
    ({"model": nn.Linear(5, 2).state_dict()}, "another architecture"),
    ({"optimizer": {"state": {}, "param_groups": [{"params": [0, 1, 2]}]}}, "optimizer state does not fit"),
])
def test_a_checkpoint_that_does_not_fit_is_removed_and_nothing_is_loaded(tmp_path, change, reason):
    checkpoint.save(tmp_path / "checkpoint.pt", {**good_state(), **change})
    model, optimizer = fresh()
    before = model.weight.detach().clone()
    lines = []
    assert checkpoint.resume(tmp_path, model, optimizer, lines.append, "dense", epochs=3) is None
    assert reason in lines[0] and "starting the stage over" in lines[0]
    assert torch.equal(model.weight, before) and not (tmp_path / "checkpoint.pt").exists()


@pytest.mark.parametrize("value, reason", [([1, 2, 3], "holds a list"), ({"model": {}}, "lacks optimizer, epoch, seconds")])
def test_a_checkpoint_of_another_shape_is_said_so(tmp_path, value, reason):
    checkpoint.save(tmp_path / "checkpoint.pt", value)
    lines = []
    assert checkpoint.resume(tmp_path, *fresh(), lines.append, "dense", epochs=3) is None
    assert reason in lines[0]


def test_a_stage_reads_the_extras_it_needs(tmp_path):
    checkpoint.save(tmp_path / "checkpoint.pt", good_state())
    lines = []
    assert checkpoint.resume(tmp_path, *fresh(), lines.append, "quantized", epochs=3, extras=("centroids",)) is None
    assert "lacks centroids" in lines[0]


def test_a_checkpoint_that_fits_resumes(tmp_path):
    checkpoint.save(tmp_path / "checkpoint.pt", good_state())
    model, optimizer = fresh()
    lines = []
    state = checkpoint.resume(tmp_path, model, optimizer, lines.append, "dense", epochs=3)
    assert state["epoch"] == 2 and lines == ["dense: resuming after epoch 2 of 3"]
    assert torch.all(model.weight == 0.5)


def test_a_damaged_checkpoint_starts_over_and_one_that_cannot_be_cleared_is_one_line(tmp_path):
    from prunelab.errors import PrunelabError

    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    lines = []
    assert checkpoint.resume(tmp_path, *fresh(), lines.append, "dense", epochs=3) is None
    assert "is unreadable" in lines[0] and not (tmp_path / "checkpoint.pt").exists()
    (tmp_path / "checkpoint.pt").mkdir()
    with pytest.raises(PrunelabError, match="does not fit this stage .* could not be removed"):
        checkpoint.resume(tmp_path, *fresh(), lines.append, "dense", epochs=3)
