"""Lossless compaction: drop the units pruning left dead, fold what they still contribute.

A unit (a convolution's output channel, a linear layer's output feature) with no surviving
incoming weight outputs a constant: its bias through the activations and pooling that follow
(pooling a constant map gives the same constant). Its effect on the next layer is then that
constant times the sum of the weights reading it, which we add to the next layer's bias, and the
unit goes. A unit that the next layer does not read at all goes with its bias. Dropping units
can leave others dead or unread, so this repeats until nothing changes. Finally each Dense layer
keeps only the input features it reads (``Dense.inputs``); for LeNet-300-100 that skips pixels.

Exactness: the compact model computes the same sums minus terms that are exactly zero, plus the
folded constants, so scores differ from the original only by float rounding (the sums are
formed in another order); predictions were identical on every test image of the record models
(``experiments/compaction/check.py``). One case is kept as it is: a dead unit with a nonzero
constant read by a convolution with zero padding, where the border sees the padding instead of
the constant. A layer always keeps at least one unit, so the graph never has an empty layer, and
nothing is dropped beside a grouped (depthwise) convolution, whose channels are tied to their group,
nor at a residual add or a concatenation (``Merge``): the layers whose outputs it adds, joins or
hands to its branches keep every unit, and compaction works inside each branch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import prod

import numpy as np

from prunelab.deploy import graph as g


@dataclass(frozen=True, eq=False)
class Compaction:
    """``graph``: the compact model; ``kept``: layer name -> the original indices of the units it
    keeps (int64, ascending); ``original``: the architecture it came from, e.g. "20-50-500-10"."""

    graph: g.Graph
    kept: dict[str, np.ndarray]
    original: str

    def summary(self, before: g.Graph) -> dict:
        macs_before, macs_after = before.macs(), self.graph.macs()
        first = self.graph.layers()[0] if self.graph.layers() else None
        read = None
        if isinstance(first, g.Dense):
            read = int(first.weight.shape[1] if first.inputs is None else first.inputs.size)
        return {
            "architecture": self.original,
            "compact_architecture": self.graph.architecture(),
            "kept_units": {name: int(units.size) for name, units in self.kept.items()},
            "inputs_read": read,
            "inputs": prod(self.graph.input_shape),
            "macs_dense": macs_before["dense"],
            "macs_nonzero": macs_before["nonzero"],
            "macs_compact_dense": macs_after["dense"],
            "macs_compact_nonzero": macs_after["nonzero"],
        }


def compact_model(model, input_shape) -> Compaction:
    """The compact form of a PyTorch model taking ``input_shape``: traced (deploy/trace.py), then compacted."""
    return compact(g.trace(model, input_shape))


def compact(graph: g.Graph) -> Compaction:
    """The compact form of ``graph`` (which is left untouched)."""
    kept = {op.name: np.arange(op.weight.shape[0]) for op in graph.layers()}
    ops = _compact_chain(list(graph.ops), tuple(graph.input_shape), kept)
    return Compaction(g.Graph(ops, graph.input_shape), kept, graph.architecture())


def _compact_chain(ops: list, shape: tuple, kept: dict) -> list:
    """``ops`` (a chain read from ``shape``) compacted; ``kept`` updated. Units go only between two
    layers of the same chain with no Merge between them: a layer whose output a Merge adds, joins or
    hands to several branches keeps every unit (a residual's channels are tied across its branches)."""
    shapes = [shape]
    for op in ops:
        shapes.append(g.output_shape(op, shapes[-1]))
    ops = [widen(op, prod(s)) if isinstance(op, g.Dense) else op for op, s in zip(ops, shapes)]
    ops = [replace(op, branches=tuple(tuple(_compact_chain(list(b), s, kept)) for b in op.branches))
           if isinstance(op, g.Merge) else op for op, s in zip(ops, shapes)]
    at = [i for i, op in enumerate(ops) if isinstance(op, g.WEIGHTED)]
    pairs = [(a, b) for a, b in zip(at, at[1:]) if not any(isinstance(op, g.Merge) for op in ops[a + 1:b])]
    # features of the next layer's input per unit: H*W where a convolution's maps are flattened
    spatial = {a: prod(shapes[b]) // shapes[a + 1][0] for a, b in pairs}
    changed = True
    while changed:
        changed = False
        for a, b in pairs:
            drop, folded_bias = _droppable(ops[a], ops[b], ops[a + 1 : b], spatial[a])
            if drop.any():
                keep = ~drop
                ops[a], ops[b] = _keep_outputs(ops[a], keep), _keep_inputs(ops[b], keep, spatial[a], folded_bias)
                kept[ops[a].name] = kept[ops[a].name][keep]
                changed = True
    return [_narrow(op) if isinstance(op, g.Dense) else op for op in ops]


def _by_unit(op, units: int, spatial: int) -> np.ndarray:
    """The next layer's weights as (O, units of a, weights per unit)."""
    return op.weight.reshape(op.weight.shape[0], units, -1 if isinstance(op, g.Conv) else spatial)


def _droppable(a, b, chain, spatial: int):
    """(drop mask over a's units, b's bias with the dropped dead units folded in). Nothing is
    dropped next to a grouped (depthwise) convolution: its channels are tied to their group."""
    units = a.weight.shape[0]
    if any(isinstance(op, g.Conv) and op.groups != 1 for op in (a, b)):
        return np.zeros(units, bool), b.bias
    reads = _by_unit(b, units, spatial)  # (O_b, U, R)
    unread = ~reads.any(axis=(0, 2))
    dead = ~a.weight.reshape(units, -1).any(axis=1)
    constant = _through(a.bias, chain)  # what each unit outputs when dead
    foldable = dead & ~unread & ((constant == 0) | (isinstance(b, g.Dense) or b.padding == (0, 0)))
    drop = unread | foldable
    if drop.all():  # keep one unit (the first), unfolded, so no layer is empty
        drop[0] = False
        foldable[0] = False
    fold = foldable & drop & (constant != 0)
    bias = b.bias
    if fold.any():
        shift = reads[:, fold, :].astype(np.float64).sum(axis=2) @ constant[fold].astype(np.float64)
        bias = (b.bias.astype(np.float64) + shift).astype(np.float32)
    return drop, bias


def _through(values: np.ndarray, chain) -> np.ndarray:
    """Constant maps of ``values`` passed through the operations between two layers."""
    out = values.astype(np.float32)
    for op in chain:
        if isinstance(op, g.Activation):
            out = np.maximum(out, np.float32(0)) if op.kind == "relu" else np.tanh(out)
        elif isinstance(op, g.Normalize):
            out = ((out - np.float32(op.mean)) / np.float32(op.std)).astype(np.float32)
    return out


def _keep_outputs(op, keep: np.ndarray):
    return replace(op, weight=np.ascontiguousarray(op.weight[keep]), bias=op.bias[keep].copy())


def _keep_inputs(op, keep: np.ndarray, spatial: int, bias: np.ndarray):
    units = keep.size
    weight = _by_unit(op, units, spatial)[:, keep, :]
    if isinstance(op, g.Conv):
        weight = weight.reshape(op.weight.shape[0], int(keep.sum()), *op.weight.shape[2:])
    else:
        weight = weight.reshape(op.weight.shape[0], -1)
    return replace(op, weight=np.ascontiguousarray(weight), bias=bias)


def widen(op: g.Dense, features: int) -> g.Dense:
    """A Dense over all ``features`` inputs (zeros where it read none), so compaction can start over."""
    if op.inputs is None:
        return op
    weight = np.zeros((op.weight.shape[0], features), np.float32)
    weight[:, op.inputs] = op.weight
    return replace(op, weight=weight, inputs=None)


def _narrow(op: g.Dense) -> g.Dense:
    """Keep only the input features some weight reads; all of them means no gather at all."""
    read = op.weight.any(axis=0)
    if read.all():
        return replace(op, inputs=None)
    if not read.any():
        read[0] = True
    return replace(op, weight=np.ascontiguousarray(op.weight[:, read]), inputs=np.flatnonzero(read))
