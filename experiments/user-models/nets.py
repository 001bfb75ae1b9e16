"""Models as users write them, for issue 21's demonstration (`prunelab run --model nets:FACTORY`,
with experiments/user-models on PYTHONPATH). Neither was written for prunelab."""

import torch
import torch.nn.functional as F
from torch import nn


class ExamplesNet(nn.Module):
    """pytorch/examples' MNIST `Net` (mnist/main.py) as a user pastes it: functional forward,
    Dropout, and a log_softmax output."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def examples_net():
    return ExamplesNet()


def bn_cnn():
    """A small CNN as most are written: convolutions without bias, each followed by BatchNorm."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64, bias=False), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(64, 10))


class Residual(nn.Module):
    """A ResNet-8-style block: two 3x3 convolutions with BatchNorm, and a shortcut: the input itself,
    or a strided 1x1 convolution with BatchNorm where the block changes the channels or the size."""

    def __init__(self, channels_in, channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2, self.bn2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        self.shortcut = nn.Identity()
        if stride != 1 or channels_in != channels:
            self.shortcut = nn.Sequential(nn.Conv2d(channels_in, channels, 1, stride, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.shortcut(x) + self.bn2(self.conv2(y)))


def resnet_like():
    """MLPerf Tiny's image classifier's shape (ResNet-8), narrowed for 28x28 images: a strided stem,
    a block with an identity shortcut, a strided block with a 1x1 shortcut, global average pooling
    and one linear layer."""
    return nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         Residual(16, 16), Residual(16, 32, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(32, 10))


def ds_cnn():
    """MLPerf Tiny's keyword spotter's shape (DS-CNN), narrowed for 28x28 images: a strided
    convolution, then depthwise-separable blocks (a depthwise 3x3 convolution, groups = channels,
    then a pointwise 1x1 one, each with BatchNorm), global average pooling and one linear layer."""
    def separable(channels):
        return [nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False), nn.BatchNorm2d(channels),
                nn.ReLU(), nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()]

    return nn.Sequential(nn.Conv2d(1, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                         *separable(32), *separable(32), *separable(32),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


class SqueezeExcite(nn.Module):
    """A convolution whose channels are reweighted by a gate computed from them (squeeze-and-excitation,
    Hu et al. 2018): a product of two tensors, which prunelab does not support; refused before training."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.gate = nn.Linear(8, 8)
        self.fc = nn.Linear(8 * 14 * 14, 10)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        weights = torch.sigmoid(self.gate(y.mean((2, 3))))
        y = y * weights[:, :, None, None]
        return self.fc(torch.flatten(torch.max_pool2d(y, 2), 1))


def squeeze_excite():
    return SqueezeExcite()
