"""How a compact graph runs in C: stages, the memory layout of each buffer, and their sizes.

A stage is one weighted layer with the activations and the pooling that follow it; its output is
written straight into the layout the next stage reads (a convolution's input with its zero
border), so no stage needs a buffer of its own. Buffers alternate between two static arrays, and a
convolution computes one output channel at a time into a plane (``tmp``) before activation and
pooling, so the full-resolution output of a convolution is never stored.

Every activation is stored feature-major with the batch innermost: element (feature f, image b)
at ``f * NB + b``. Each surviving weight then multiplies a contiguous run of NB values, which a
compiler vectorises; with NB = 1 (a microcontroller) the same code is plain scalar C.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from prunelab.deploy import graph as g
from prunelab.errors import PrunelabError


@dataclass(frozen=True)
class Layout:
    """A buffer's shape: (C, H, W) maps with a zero border of ``pad``, or ``C`` features (H = W = 1)."""

    channels: int
    height: int = 1
    width: int = 1
    pad: int = 0

    @property
    def padded(self) -> tuple[int, int]:
        return self.height + 2 * self.pad, self.width + 2 * self.pad

    @property
    def size(self) -> int:
        """Floats per image, border included."""
        return self.channels * prod(self.padded)


@dataclass(frozen=True, eq=False)
class Stage:
    layer: object  # g.Conv or g.Dense
    before_pool: tuple  # activations applied before pooling
    pool: g.Pool | None
    after_pool: tuple  # activations applied after pooling
    source: Layout  # what this stage reads
    target: Layout  # what it writes (the next stage's source, or the scores)
    conv_out: tuple[int, int] = (1, 1)  # convolution output (H, W), before pooling


@dataclass(frozen=True, eq=False)
class Plan:
    normalize: g.Normalize | None
    input_shape: tuple[int, ...]
    stages: list[Stage]

    @property
    def inputs(self) -> int:
        return prod(self.input_shape)

    @property
    def outputs(self) -> int:
        """Scores per image: the last stage's output, flattened (a convolution's maps, channel-major)."""
        last = self.stages[-1].target
        return last.channels * last.height * last.width

    def buffer_floats(self) -> tuple[int, int, int]:
        """Floats per image in buffer A (even stages read it), buffer B, and the convolution plane."""
        sides = [0, 0]
        for i, stage in enumerate(self.stages):
            sides[i % 2] = max(sides[i % 2], stage.source.size)
            sides[(i + 1) % 2] = max(sides[(i + 1) % 2], stage.target.size)
        plane = max([prod(s.conv_out) for s in self.stages if isinstance(s.layer, g.Conv)], default=0)
        return sides[0], sides[1], plane


def plan(graph: g.Graph) -> Plan:
    """Group ``graph`` into stages; refuse what the C generator cannot run, naming it."""
    if not graph.is_chain():
        raise PrunelabError("the integer engine runs a chain of layers; this model's residual adds or "
                            "concatenations are not supported there yet (the float C export, ONNX and the file are)")
    ops = list(graph.ops)
    shapes = graph.shapes()
    normalize = None
    start = 0
    if ops and isinstance(ops[0], g.Normalize):
        normalize, start = ops[0], 1
    if start < len(ops) and isinstance(ops[start], g.Flatten):
        start += 1
    at = [i for i, op in enumerate(ops) if isinstance(op, g.WEIGHTED)]
    if not at or at[0] != start:
        raise PrunelabError("the C export needs a model that starts with a convolution or a linear layer "
                            "(after its normalisation)")
    stages = []
    for n, i in enumerate(at):
        end = at[n + 1] if n + 1 < len(at) else len(ops)
        stages.append(_stage(ops, shapes, i, end, ops[at[n + 1]] if n + 1 < len(at) else None))
    return Plan(normalize, tuple(graph.input_shape), stages)


def split_after(ops, where: str):
    """(activations before the pooling, activations after it, the pooling or None) of the operations
    that follow a layer (``where`` names it); a flatten is the same memory, anything else is refused."""
    before, after, pool = [], [], None
    for op in ops:
        if isinstance(op, g.Activation):
            (after if pool else before).append(op)
        elif isinstance(op, g.Pool) and pool is None:
            pool = op
        elif not isinstance(op, g.Flatten):
            raise PrunelabError(f"the C export cannot run {type(op).__name__} after {where}")
    return tuple(before), tuple(after), pool


def _stage(ops, shapes, i, end, following) -> Stage:
    layer = ops[i]
    before, after, pool = split_after(ops[i + 1 : end], f"layer {layer.name}")
    source_shape, out_shape = shapes[i], shapes[end]
    pad = following.padding[0] if isinstance(following, g.Conv) else 0
    if isinstance(following, g.Conv) and following.padding[0] != following.padding[1]:
        raise PrunelabError(f"the C export needs equal padding on both axes ({following.name})")
    if isinstance(layer, g.Conv):
        if layer.padding[0] != layer.padding[1]:
            raise PrunelabError(f"the C export needs equal padding on both axes ({layer.name})")
        source = Layout(*source_shape, pad=layer.padding[0])
        conv_shape = g.output_shape(layer, source_shape)
        pooled = g.output_shape(pool, conv_shape) if pool else conv_shape
        target = Layout(*pooled, pad=pad)
        return Stage(layer, tuple(before), pool, tuple(after), source, target, tuple(conv_shape[1:]))
    if pool is not None:
        raise PrunelabError(f"the C export cannot pool after the linear layer {layer.name}")
    return Stage(layer, tuple(before), None, tuple(after), Layout(prod(source_shape)), Layout(out_shape[0]))
