"""A ``Graph`` back as a PyTorch module: to evaluate a compact model and to export it to ONNX.

The module is dense (PyTorch's own kernels), but of the compact shape, so any runtime that takes
the ONNX graph does only the compact model's work. A Dense that reads some of its inputs becomes
a gather (``index_select``, ONNX Gather) followed by a smaller Linear.
"""

import numpy as np
import torch
from torch import nn

from prunelab.deploy import graph as g
from prunelab.models.lenet import Normalize


class GatherLinear(nn.Module):
    """y = W x[:, inputs] + b."""

    def __init__(self, op: g.Dense):
        super().__init__()
        self.register_buffer("inputs", torch.from_numpy(op.inputs.astype(np.int64)))
        self.linear = _linear(op)

    def forward(self, x):  # (N, F)
        return self.linear(x.index_select(1, self.inputs))


class Merge(nn.Module):
    """The branches' outputs added, or concatenated along the channels (an empty branch: the input)."""

    def __init__(self, op: g.Merge):
        super().__init__()
        self.kind = op.kind
        self.branches = nn.ModuleList(_sequential(branch) for branch in op.branches)

    def forward(self, x):
        outputs = [branch(x) for branch in self.branches]
        if self.kind == "concat":
            return torch.cat(outputs, 1)
        total = outputs[0]
        for out in outputs[1:]:
            total = total + out
        return total


def to_module(graph: g.Graph) -> nn.Sequential:
    return _sequential(graph.ops).eval().requires_grad_(False)


def _sequential(ops) -> nn.Sequential:
    layers = []
    for op in ops:
        if isinstance(op, g.Normalize):
            layers.append(Normalize(op.mean, op.std))
        elif isinstance(op, g.Conv):
            layers.append(_conv(op))
        elif isinstance(op, g.Dense):
            layers.append(_linear(op) if op.inputs is None else GatherLinear(op))
        elif isinstance(op, g.Activation):
            layers.append(nn.ReLU() if op.kind == "relu" else nn.Tanh())
        elif isinstance(op, g.Pool):
            pool = nn.MaxPool2d if op.kind == "max" else nn.AvgPool2d
            layers.append(pool(op.size, op.stride))
        elif isinstance(op, g.Flatten):
            layers.append(nn.Flatten())
        elif isinstance(op, g.Merge):
            layers.append(Merge(op))
    return nn.Sequential(*layers)


def _conv(op: g.Conv) -> nn.Conv2d:
    out, channels, kh, kw = op.weight.shape
    conv = nn.Conv2d(channels * op.groups, out, (kh, kw), op.stride, op.padding, groups=op.groups)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(op.weight))
        conv.bias.copy_(torch.from_numpy(op.bias))
    return conv


def _linear(op: g.Dense) -> nn.Linear:
    out, width = op.weight.shape
    linear = nn.Linear(width, out)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(op.weight))
        linear.bias.copy_(torch.from_numpy(op.bias))
    return linear
