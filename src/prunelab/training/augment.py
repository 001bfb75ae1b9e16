"""Augmentation of training images: random whole-pixel shifts, and random affine moves (rotation,
scale, shift) resampled bilinearly. Every draw comes from the epoch's generator, so a seed gives the
same run; with no rotation and no scaling the images are shifted exactly as before."""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    shift: int = 0  # pixels along each axis, -shift..shift
    rotate: float = 0.0  # degrees, -rotate..rotate
    scale: float = 0.0  # relative size, 1-scale..1+scale

    def __bool__(self) -> bool:
        return bool(self.shift or self.rotate or self.scale)

    def __call__(self, x: torch.Tensor, generator) -> torch.Tensor:
        if not (self.rotate or self.scale):
            return shifted(x, self.shift, generator) if self.shift else x
        return moved(x, self.shift, self.rotate, self.scale, generator)


def augment_of(train) -> Augment:
    """The augmentation a run's [train] settings ask for."""
    return Augment(train.shift, train.rotate, train.scale)


def shifted(x: torch.Tensor, shift: int, generator) -> torch.Tensor:
    """Each image of (N, C, H, W) moved by its own (dy, dx) in -shift..shift, the border filled with 0."""
    moves = torch.randint(-shift, shift + 1, (len(x), 2), generator=generator)
    padded = F.pad(x, (shift, shift, shift, shift))
    height, width = x.shape[-2:]
    out = torch.empty_like(x)
    for dy, dx in torch.unique(moves, dim=0).tolist():
        chosen = ((moves[:, 0] == dy) & (moves[:, 1] == dx)).nonzero().squeeze(1)
        out[chosen] = padded[chosen, :, shift - dy:shift - dy + height, shift - dx:shift - dx + width]
    return out


def moved(x: torch.Tensor, shift: float, rotate: float, scale: float, generator) -> torch.Tensor:
    """Each image of (N, C, H, W) rotated about its centre by its own angle in -rotate..rotate degrees,
    resized by a factor in 1-scale..1+scale and moved by up to `shift` pixels along each axis (not
    whole pixels), sampled bilinearly with zero fill."""
    return warped(x, torch.rand(len(x), 4, generator=generator) * 2 - 1, shift, rotate, scale)


def warped(x: torch.Tensor, draws: torch.Tensor, shift: float, rotate: float, scale: float) -> torch.Tensor:
    """`moved` with its draws given: (N, 4) values in -1..1 for the angle, the size and the two shifts."""
    _, _, height, width = x.shape
    angle = draws[:, 0] * math.radians(rotate)
    size = 1 + draws[:, 1] * scale
    cos, sin = torch.cos(angle) / size, torch.sin(angle) / size
    # affine_grid maps output coordinates to input ones, in units of half the image
    theta = torch.stack([torch.stack([cos, -sin, draws[:, 2] * shift * 2 / width], 1),
                         torch.stack([sin, cos, draws[:, 3] * shift * 2 / height], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
