import pytest
import torch

from prunelab import models
from prunelab.errors import PrunelabError
from prunelab.pruning.mask import Mask


def test_ones_like_covers_every_conv_and_linear_weight():
    mask = Mask.ones_like(models.build("lenet5"))
    assert list(mask) == ["conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight", "fc3.weight"]
    assert mask.sparsity() == 0.0 and mask.total() == 61_470


def test_save_and_load_round_trip(tmp_path):
    mask = Mask({"a.weight": torch.tensor([True, False, True])})
    mask.save(tmp_path / "mask.pt")
    loaded = Mask.load(tmp_path / "mask.pt")
    assert torch.equal(loaded["a.weight"], mask["a.weight"])
    assert loaded.sparsity() == pytest.approx(1 / 3)


def test_a_damaged_mask_file_is_a_clear_error(tmp_path):
    path = tmp_path / "mask.pt"
    Mask({"a.weight": torch.ones(10, dtype=torch.bool)}).save(path)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(PrunelabError, match="unreadable"):
        Mask.load(path)


def test_reviving_a_pruned_weight_is_refused():
    old = Mask({"a.weight": torch.tensor([True, False])})
    with pytest.raises(PrunelabError, match="revives"):
        Mask({"a.weight": torch.tensor([True, True])}).check_shrinks_from(old)
