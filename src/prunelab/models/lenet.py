"""The LeNet family. Every model takes (N, 1, 28, 28) float pixels in [0, 1] (byte / 255).

Normalisation to zero mean and unit variance happens inside the model (`Normalize`), so an
exported model needs nothing but the scaled pixels.
"""

import torch
import torch.nn.functional as F
from torch import nn

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class Normalize(nn.Module):
    """(x - mean) / std with fixed buffers: part of the model, never trained or pruned."""

    def __init__(self, mean: float = MNIST_MEAN, std: float = MNIST_STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))

    def forward(self, x):
        return (x - self.mean) / self.std


class LeNet5(nn.Module):
    """Modern LeNet-5: ReLU, max pooling, 61,706 parameters, 416,520 MACs per image."""

    def __init__(self):
        super().__init__()
        self.normalize = Normalize()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)  # (N, 6, 28, 28)
        self.conv2 = nn.Conv2d(6, 16, 5)  # (N, 16, 10, 10)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.normalize(x)
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)  # (N, 6, 14, 14)
        x = F.max_pool2d(torch.relu(self.conv2(x)), 2)  # (N, 16, 5, 5)
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


# LeCun et al. 1998, Table I: which of the 6 S2 maps (rows) each of the 16 C3 maps (columns) sees.
C3_TABLE = (
    "X...XXX..XXXX.XX",
    "XX...XXX..XXXX.X",
    "XXX...XXX..X.XXX",
    ".XXX..XXXX..X.XX",
    "..XXX..XXXX.XX.X",
    "...XXX..XXXX.XXX",
)


class SparseConv2d(nn.Conv2d):
    """A convolution whose input-output map pairs are fixed by a connection table.

    Absent connections are zero weights held at zero by a buffer `connections`
    (out, in, 1, 1); pruning treats them as already removed (see pruning.Mask.ones_like).
    """

    def __init__(self, table, kernel_size):
        in_maps, out_maps = len(table), len(table[0])
        super().__init__(in_maps, out_maps, kernel_size)
        links = torch.tensor([[row[o] == "X" for row in table] for o in range(out_maps)])
        self.register_buffer("connections", links[:, :, None, None].float())
        with torch.no_grad():
            self.weight.mul_(self.connections)

    def forward(self, x):
        return self._conv_forward(x, self.weight * self.connections, self.bias)


class LeNet5_1998(nn.Module):
    """LeNet-5 as in LeCun et al. 1998: tanh, average pooling, C3 with 60 of 96 map pairs.

    Departures: the trainable S2/S4 coefficients and the RBF output layer are replaced by plain
    average pooling and a linear layer, as in most modern reimplementations. 60,806 live
    parameters (C3 = 1,516 as in the paper).
    """

    def __init__(self):
        super().__init__()
        self.normalize = Normalize()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = SparseConv2d(C3_TABLE, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.normalize(x)
        x = F.avg_pool2d(torch.tanh(self.conv1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return self.fc3(x)


class LeNet5Caffe(nn.Module):
    """Caffe's LeNet as used by Han et al.: 20-50-500-10, no ReLU after the convolutions."""

    def __init__(self):
        super().__init__()
        self.normalize = Normalize()
        self.conv1 = nn.Conv2d(1, 20, 5)  # (N, 20, 24, 24)
        self.conv2 = nn.Conv2d(20, 50, 5)  # (N, 50, 8, 8)
        self.fc1 = nn.Linear(50 * 4 * 4, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = self.normalize(x)
        x = F.max_pool2d(self.conv1(x), 2)  # (N, 20, 12, 12)
        x = F.max_pool2d(self.conv2(x), 2)  # (N, 50, 4, 4)
        x = torch.flatten(x, 1)
        return self.fc2(torch.relu(self.fc1(x)))


class LeNet300100(nn.Module):
    """The fully connected LeNet-300-100 (LeCun et al. 1998; Han et al. 2015)."""

    def __init__(self):
        super().__init__()
        self.normalize = Normalize()
        self.fc1 = nn.Linear(784, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, 10)

    def forward(self, x):
        x = torch.flatten(self.normalize(x), 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


class McuCNN(nn.Module):
    """A narrow LeNet-5-Caffe for microcontrollers with 2 KB of RAM: ReLU after every layer but the
    last, so each pooled activation fits a byte. The default 8-16-64-10 (20,522 parameters, 337,024
    MACs per image dense): its largest plane, 8x12x12 = 1,152 int8 values after conv1's pooling,
    fits the 1.5 KB RAM target of issue 20; ``McuCNN(10, 16, 96)`` is the wider `mcu-cnn-wide`
    (1,440 bytes) for the 1.9 KB one, and ``McuCNN(8, 32, 128)`` `mcu-cnn-deep` (1,152 + 512 bytes)
    spends that RAM on conv2 instead."""

    def __init__(self, conv1: int = 8, conv2: int = 16, hidden: int = 64):
        super().__init__()
        self.normalize = Normalize()
        self.conv1 = nn.Conv2d(1, conv1, 5)  # (N, conv1, 24, 24)
        self.conv2 = nn.Conv2d(conv1, conv2, 5)  # (N, conv2, 8, 8)
        self.fc1 = nn.Linear(conv2 * 4 * 4, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        x = self.normalize(x)
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)  # (N, conv1, 12, 12)
        x = F.max_pool2d(torch.relu(self.conv2(x)), 2)  # (N, conv2, 4, 4)
        x = torch.flatten(x, 1)
        return self.fc2(torch.relu(self.fc1(x)))


class McuCNNStrided(nn.Module):
    """mcu-cnn with its first convolution at stride 2 in place of stride 1 and pooling: a quarter of
    conv1's multiplies (the layer that dominates a sparse LeNet's work on a microcontroller), the
    same 8x12x12 plane. 20,522 parameters, 250,624 MACs per image dense."""

    def __init__(self):
        super().__init__()
        self.normalize = Normalize()
        self.conv1 = nn.Conv2d(1, 8, 5, stride=2)  # (N, 8, 12, 12)
        self.conv2 = nn.Conv2d(8, 16, 5)  # (N, 16, 8, 8)
        self.fc1 = nn.Linear(16 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(self.normalize(x)))  # (N, 8, 12, 12)
        x = F.max_pool2d(torch.relu(self.conv2(x)), 2)  # (N, 16, 4, 4)
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))
