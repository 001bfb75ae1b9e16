"""Pruned models with random weights, and digit-like images, for the inference tests."""

import torch
from torch import nn
from torch.nn.utils import prune

from prunelab import models

PRUNABLE = (nn.Conv2d, nn.Linear)


def pruned_model(name: str, sparsity: float, seed: int = 0) -> nn.Module:
    """A freshly initialised model with `sparsity` of each layer's weights zeroed by magnitude (torch's l1)."""
    torch.manual_seed(seed)
    model = models.build(name).eval()
    for module in model.modules():
        if isinstance(module, PRUNABLE) and sparsity > 0:
            prune.l1_unstructured(module, "weight", amount=sparsity)
            prune.remove(module, "weight")
    return model


def prune_layers(model: nn.Module, kept: dict) -> nn.Module:
    """Han et al.'s per-layer pruning: layer name -> fraction of its weights kept."""
    for name, fraction in kept.items():
        prune.l1_unstructured(model.get_submodule(name), "weight", amount=1 - fraction)
        prune.remove(model.get_submodule(name), "weight")
    return model


def digit_like(n: int, seed: int = 0) -> torch.Tensor:
    """(n, 1, 28, 28) pixels in [0, 1] like MNIST: dark background, three bright 3-pixel-wide strokes."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 28, 28)
    t = torch.linspace(0, 1, 40)[:, None]
    for image in images:
        for _ in range(3):
            ends = 5 + 18 * torch.rand(2, 2, generator=generator)
            points = (ends[0] + t * (ends[1] - ends[0])).round().long()  # (40, 2) row, column
            for dr, dc in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
                image[points[:, 0] + dr, points[:, 1] + dc] = 1.0
    return images[:, None]
