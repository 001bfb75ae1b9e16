"""Small sparse chains with dead and unread units, for the deploy tests."""

import numpy as np
import torch
from torch import nn

from prunelab.models.lenet import Normalize


class ConvChain(nn.Module):
    """conv (padding p) - activation - pool - conv - pool - flatten - linear - relu - linear."""

    def __init__(self, channels=(5, 6), hidden=12, padding=0, activation=nn.ReLU, caffe=False):
        super().__init__()
        self.body = nn.Sequential(
            Normalize(), nn.Conv2d(1, channels[0], 3, padding=padding),
            nn.Identity() if caffe else activation(), nn.MaxPool2d(2),
            nn.Conv2d(channels[0], channels[1], 3, padding=padding), activation(), nn.AvgPool2d(2), nn.Flatten(),
        )
        side = ((12 + 2 * padding - 2) // 2 + 2 * padding - 2) // 2
        self.head = nn.Sequential(nn.Linear(channels[1] * side * side, hidden), nn.ReLU(), nn.Linear(hidden, 4))

    def forward(self, x):
        return self.head(self.body(x))


def sparsify(model: nn.Module, seed: int, density: float = 0.5, dead: float = 0.3, unread: float = 0.2):
    """Zero random weights, whole incoming rows (dead units) and whole outgoing columns (unread)."""
    rng = np.random.default_rng(seed)
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        for i, layer in enumerate(layers):
            w = layer.weight
            w.mul_(torch.from_numpy(rng.random(w.shape) < density).float())
            layer.bias.copy_(torch.from_numpy(rng.normal(0, 0.5, layer.bias.shape)).float())
            if i < len(layers) - 1:
                w[torch.from_numpy(rng.random(w.shape[0]) < dead)] = 0
        for a, b in zip(layers, layers[1:]):
            units = a.weight.shape[0]
            gone = torch.from_numpy(rng.random(units) < unread)
            view = b.weight.view(b.weight.shape[0], units, -1)
            view[:, gone] = 0
    return model.eval()
