"""A model as plain operations on numpy arrays: what compaction, the file, the compact ONNX export
and the C generator all read.

A ``Graph`` is a chain of operations, each reading the one before it; a ``Merge`` in the chain holds
branches (chains themselves) that read the same input and whose outputs are added (a residual) or
concatenated along the channels. ``trace`` (deploy/trace.py) makes one from a PyTorch model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

import numpy as np

from prunelab.errors import PrunelabError


@dataclass(frozen=True, eq=False)
class Normalize:
    mean: float
    std: float


@dataclass(frozen=True, eq=False)
class Conv:
    """y[o] = bias[o] + sum over (c, i, j) of weight[o, c, i, j] * x[g * C + c, stride*h + i - pad, ...],
    g = o // (O / groups) the group of output o (1 group: every input channel; depthwise: one)."""

    name: str
    weight: np.ndarray  # (O, C, kh, kw) float32, C = input channels / groups
    bias: np.ndarray  # (O,) float32
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1


@dataclass(frozen=True, eq=False)
class Dense:
    """y = weight @ x[inputs] + bias; ``inputs`` None reads every feature in order."""

    name: str
    weight: np.ndarray  # (O, K) float32
    bias: np.ndarray  # (O,) float32
    inputs: np.ndarray | None = None  # (K,) int64 positions in the flattened input


@dataclass(frozen=True)
class Activation:
    kind: str  # "relu" or "tanh"


@dataclass(frozen=True)
class Pool:
    kind: str  # "max" or "avg"
    size: tuple[int, int]
    stride: tuple[int, int]


@dataclass(frozen=True)
class Flatten:
    pass


@dataclass(frozen=True, eq=False)
class Merge:
    """The outputs of ``branches`` added elementwise ("add": a residual) or concatenated along the
    channels ("concat"), in order. Each branch is a tuple of operations applied to the Merge's input;
    an empty one is the input itself (an identity shortcut)."""

    kind: str  # "add" or "concat"
    branches: tuple


WEIGHTED = (Conv, Dense)


def each_op(ops):
    """Every operation of ``ops``, depth first: a Merge, then its branches' operations in order."""
    for op in ops:
        yield op
        if isinstance(op, Merge):
            for branch in op.branches:
                yield from each_op(branch)


def with_shapes(ops, shape: tuple[int, ...]):
    """(operation, its input shape, its output shape) for every operation of ``ops``, depth first."""
    for op in ops:
        out = output_shape(op, shape)
        yield op, shape, out
        if isinstance(op, Merge):
            for branch in op.branches:
                yield from with_shapes(branch, shape)
        shape = out


def chain_shape(ops, shape: tuple[int, ...]) -> tuple[int, ...]:
    for op in ops:
        shape = output_shape(op, shape)
    return shape


@dataclass(frozen=True, eq=False)
class Graph:
    """``ops`` applied in order to one image of ``input_shape`` (C, H, W)."""

    ops: list = field(default_factory=list)
    input_shape: tuple[int, ...] = (1, 28, 28)

    def layers(self) -> list:
        """The weighted layers, in the order the file stores them (a Merge's branches in order)."""
        return [op for op in each_op(self.ops) if isinstance(op, WEIGHTED)]

    def is_chain(self) -> bool:
        """Whether every operation reads the one before it (no residual add or concatenation)."""
        return not any(isinstance(op, Merge) for op in self.ops)

    def shapes(self) -> list[tuple[int, ...]]:
        """The shape of one image before each op, then the output's: len(ops) + 1 entries."""
        shapes = [tuple(self.input_shape)]
        for op in self.ops:
            shapes.append(output_shape(op, shapes[-1]))
        return shapes

    def architecture(self) -> str:
        """Units per weighted layer, e.g. "20-50-500-10"."""
        return "-".join(str(op.weight.shape[0]) for op in self.layers())

    def macs(self) -> dict:
        """Multiply-accumulates per image: every stored weight ("dense") and the nonzero ones."""
        dense = nonzero = 0
        for op, _, shape in with_shapes(self.ops, tuple(self.input_shape)):
            if isinstance(op, WEIGHTED):
                uses = prod(shape[1:]) if isinstance(op, Conv) else 1
                dense += op.weight.size * uses
                nonzero += int(np.count_nonzero(op.weight)) * uses
        return {"dense": dense, "nonzero": nonzero}


def output_shape(op, shape: tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(op, Conv):
        out, channels, kh, kw = op.weight.shape
        channels *= op.groups
        if len(shape) != 3 or shape[0] != channels or out % op.groups:
            raise PrunelabError(f"layer {op.name} expects {channels} input channels, gets shape {shape}")
        h, w = (_window(shape[1 + a], (kh, kw)[a], op.stride[a], op.padding[a], op.name) for a in range(2))
        return (out, h, w)
    if isinstance(op, Dense):
        features = prod(shape)
        width = features if op.inputs is None else op.inputs.size
        if len(shape) != 1 or op.weight.shape[1] != width or (op.inputs is not None and op.inputs.size
                                                              and op.inputs.max() >= features):
            raise PrunelabError(f"layer {op.name} expects {op.weight.shape[1]} features, gets shape {shape}")
        return (op.weight.shape[0],)
    if isinstance(op, Pool):
        if len(shape) != 3:
            raise PrunelabError(f"pooling needs (C, H, W) input, gets {shape}")
        return (shape[0], *(_window(shape[1 + a], op.size[a], op.stride[a], 0, "pooling") for a in range(2)))
    if isinstance(op, Flatten):
        return (prod(shape),)
    if isinstance(op, Merge):
        return _merged(op, [chain_shape(branch, shape) for branch in op.branches])
    return shape


def _merged(op: Merge, shapes: list) -> tuple[int, ...]:
    if op.kind == "add":
        if any(s != shapes[0] for s in shapes):
            raise PrunelabError(f"an add of tensors of shapes {', '.join(map(str, shapes))}")
        return shapes[0]
    if any(len(s) != len(shapes[0]) or s[1:] != shapes[0][1:] for s in shapes):
        raise PrunelabError(f"a concatenation along channels of shapes {', '.join(map(str, shapes))}")
    return (sum(s[0] for s in shapes), *shapes[0][1:])


def _window(size: int, kernel: int, stride: int, padding: int, name: str) -> int:
    out = (size + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise PrunelabError(f"{name}: a window of {kernel} does not fit an input of {size}")
    return out


from prunelab.deploy.trace import Tracer, trace  # noqa: E402,F401  (graph.trace: where callers have always found it)
