"""Random shifts as augmentation (train.shift): each image moved by its own offset, zero fill,
drawn from the epoch's generator so that a seed gives the same run."""

import torch

from prunelab.training.loop import shifted


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
