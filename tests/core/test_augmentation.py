"""Augmentation (train.shift, train.rotate, train.scale): each image moved by its own offset,
rotation and size, zero fill, drawn from the epoch's generator so that a seed gives the same run."""

import pytest
import torch

from prunelab.errors import PrunelabError
from prunelab.runs.config import RunConfig
from prunelab.runs.validate import validate
from prunelab.training.augment import Augment, shifted, warped


def test_each_image_moves_by_at_most_shift_with_zero_fill():
    x = torch.zeros(200, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0  # one lit pixel in the middle
    out = shifted(x, 2, torch.Generator().manual_seed(0))
    where = out[:, 0].flatten(1).argmax(1)
    rows, cols = where // 9, where % 9
    assert torch.all(out.sum((1, 2, 3)) == 1)  # nothing lost, nothing added
    assert rows.min() == 2 and rows.max() == 6 and cols.min() == 2 and cols.max() == 6  # every offset in -2..2
    assert len(set(zip(rows.tolist(), cols.tolist()))) == 25


def test_the_same_generator_gives_the_same_moves():
    x = torch.rand(50, 1, 8, 8)
    a, b = (shifted(x, 1, torch.Generator().manual_seed(7)) for _ in range(2))
    assert torch.equal(a, b) and not torch.equal(a, x)


def test_a_move_past_the_edge_fills_zeros():
    x = torch.ones(1, 1, 4, 4)
    torch.manual_seed(0)
    out = shifted(x, 1, torch.Generator().manual_seed(3))
    assert out.sum() in (16, 12, 9)  # no move, one edge, or a corner of zeros


def test_no_rotation_or_scaling_is_the_old_whole_pixel_shift():
    x = torch.rand(40, 1, 10, 10)
    assert torch.equal(Augment(shift=2)(x, torch.Generator().manual_seed(5)), shifted(x, 2, torch.Generator().manual_seed(5)))
    assert Augment()(x, None) is x and not Augment()


def test_a_quarter_turn_turns_the_image():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 1, 2:6] = 1.0  # a bar near the top
    out = warped(x, torch.tensor([[1.0, 0.0, 0.0, 0.0]]), 0, 90, 0)[0, 0]
    turned = [torch.rot90(x[0, 0], k, (0, 1)) for k in (1, -1)]
    assert any(torch.allclose(out, t, atol=1e-5) for t in turned)


def test_a_shift_by_whole_pixels_matches_the_shift():
    x = torch.rand(1, 1, 8, 8)
    out = warped(x, torch.tensor([[0.0, 0.0, 1.0, 0.0]]), 2, 0, 0)[0, 0]  # two pixels along x
    assert torch.allclose(out[:, 2:], x[0, 0, :, :-2], atol=1e-5) or torch.allclose(out[:, :-2], x[0, 0, :, 2:], atol=1e-5)


def test_affine_moves_keep_the_ink_the_scale_allows():
    x = torch.zeros(300, 1, 28, 28)
    x[:, 0, 10:18, 10:18] = 1.0  # a centred square, 64 pixels of ink
    out = Augment(shift=2, rotate=15, scale=0.1)(x, torch.Generator().manual_seed(0))
    ink = out.sum((1, 2, 3))
    assert out.min() >= 0 and out.max() <= 1 + 1e-6
    assert ink.min() > 64 * 0.9 ** 2 * 0.95 and ink.max() < 64 * 1.1 ** 2 * 1.05
    assert not torch.equal(out[0], out[1])  # each image its own move


def test_affine_moves_follow_the_generator():
    x = torch.rand(20, 1, 12, 12)
    a, b = (Augment(1, 10, 0.1)(x, torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(a, b)


@pytest.mark.parametrize("key, value", [("rotate", -1.0), ("rotate", 200.0), ("scale", 1.0), ("scale", -0.1)])
def test_rotate_and_scale_out_of_range_are_refused(key, value):
    config = RunConfig()
    setattr(config.train, key, value)
    with pytest.raises(PrunelabError, match=f"train.{key}"):
        validate(config)
