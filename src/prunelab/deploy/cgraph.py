"""Float C for a graph that branches (residual adds, concatenations): cgen.py's kernels, scheduled
over buffers by lifetime. Pure.

A chain goes through cgen.py as it always has (two alternating buffers). A graph with a Merge is
cut into steps, each writing one value (an activation tensor of one image) from values before it:

- a layer step: a weighted layer with the activations and the pooling after it (cgen's kernels);
- a sum step (an add) or a join step (a concatenation along the channels) of the branches' values;
- a post step: the activations, pooling and flatten that follow a merge (e.g. ReLU after a
  residual add, then global average pooling).

Each value is laid out as cplan.Layout, with the zero border the widest convolution that reads it
needs; a convolution with less padding reads it from an offset. A value's buffer is free again after
the last step that reads it, so a residual's input stays alive through its body and nothing more
does; the buffers are static arrays sized to the largest value each holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

import numpy as np

from prunelab.deploy import cgen, cplan
from prunelab.deploy import graph as g
from prunelab.deploy.ctables import table
from prunelab.errors import PrunelabError


@dataclass(eq=False)
class Step:
    kind: str  # "layer", "sum", "join" or "post"
    sources: list  # value indices read
    target: int  # value index written
    ops: tuple = ()  # layer: (layer, *ops after it); post: the ops
    stage: cplan.Stage | None = None


@dataclass(eq=False)
class Schedule:
    normalize: g.Normalize | None
    input_shape: tuple
    shapes: list = field(default_factory=list)  # per value, its shape (C, H, W) or (F,)
    steps: list = field(default_factory=list)
    pads: list = field(default_factory=list)
    slots: list = field(default_factory=list)  # per value, its buffer
    slot_floats: list = field(default_factory=list)

    def layout(self, value: int) -> cplan.Layout:
        shape = self.shapes[value]
        return cplan.Layout(*shape, pad=self.pads[value]) if len(shape) == 3 else cplan.Layout(shape[0])

    @property
    def inputs(self) -> int:
        return prod(self.input_shape)

    @property
    def outputs(self) -> int:
        return prod(self.shapes[-1])


def schedule(graph: g.Graph) -> Schedule:
    ops = list(graph.ops)
    normalize = ops.pop(0) if ops and isinstance(ops[0], g.Normalize) else None
    plan = Schedule(normalize, tuple(graph.input_shape), shapes=[tuple(graph.input_shape)])
    _chain(plan, ops, 0)
    plan.pads = [_pad(plan, v) for v in range(len(plan.shapes))]
    for step in plan.steps:
        if step.kind == "layer":
            step.stage = _stage(plan, step)
    _assign(plan)
    return plan


def _new(plan: Schedule, shape) -> int:
    plan.shapes.append(tuple(shape))
    return len(plan.shapes) - 1


def _chain(plan: Schedule, ops: list, value: int) -> int:
    """Steps for ``ops`` read from ``value``; the value they end in."""
    i = 0
    while i < len(ops):
        op = ops[i]
        if isinstance(op, g.Merge):
            outs = [_chain(plan, list(branch), value) for branch in op.branches]
            target = _new(plan, g.output_shape(op, plan.shapes[value]))
            plan.steps.append(Step("sum" if op.kind == "add" else "join", outs, target))
            value, i = target, i + 1
            continue
        j = i + 1  # a layer and what follows it, or what follows a merge, up to the next layer or merge
        while j < len(ops) and not isinstance(ops[j], (g.Conv, g.Dense, g.Merge)):
            j += 1
        target = _new(plan, g.chain_shape(ops[i:j], plan.shapes[value]))
        plan.steps.append(Step("layer" if isinstance(op, g.WEIGHTED) else "post", [value], target, tuple(ops[i:j])))
        value, i = target, j
    return value


def _pad(plan: Schedule, value: int) -> int:
    """The zero border of ``value``: the widest padding of a convolution that reads it."""
    pads = [0]
    for step in plan.steps:
        if step.kind == "layer" and value in step.sources and isinstance(step.ops[0], g.Conv):
            layer = step.ops[0]
            if layer.padding[0] != layer.padding[1]:
                raise PrunelabError(f"the C export needs equal padding on both axes ({layer.name})")
            pads.append(layer.padding[0])
    return max(pads)


def _stage(plan: Schedule, step: Step) -> cplan.Stage:
    layer, *after = step.ops
    before, later, pool = cplan.split_after(after, layer.name)
    source, target = step.sources[0], step.target
    if isinstance(layer, g.Dense):
        if plan.pads[source]:
            raise PrunelabError(f"the C export cannot feed layer {layer.name} a value a padded convolution also reads")
        if pool is not None:
            raise PrunelabError(f"the C export cannot pool after the linear layer {layer.name}")
        return cplan.Stage(layer, before, None, later, cplan.Layout(prod(plan.shapes[source])),
                           cplan.Layout(prod(plan.shapes[target])))
    conv_shape = g.output_shape(layer, plan.shapes[source])
    pooled = g.output_shape(pool, conv_shape) if pool else conv_shape
    return cplan.Stage(layer, before, pool, later, plan.layout(source),
                       cplan.Layout(*pooled, pad=plan.pads[target]), tuple(conv_shape[1:]))


def _assign(plan: Schedule) -> None:
    """A buffer for every value: a value's buffer is free after the last step that reads it (the
    graph's output stays), and a step never writes into a buffer it reads."""
    last = {v: max((n for n, s in enumerate(plan.steps) if v in s.sources), default=len(plan.steps))
            for v in range(len(plan.shapes))}
    last[len(plan.shapes) - 1] = len(plan.steps)
    plan.slots, plan.slot_floats = [0] * len(plan.shapes), [plan.layout(0).size]
    live, free = {0}, []
    for n, step in enumerate(plan.steps):
        for v in sorted(live):
            if last[v] < n:
                live.discard(v)
                free.append(plan.slots[v])
        size = plan.layout(step.target).size
        slot = free.pop(0) if free else len(plan.slot_floats)
        if slot == len(plan.slot_floats):
            plan.slot_floats.append(0)
        plan.slot_floats[slot] = max(plan.slot_floats[slot], size)
        plan.slots[step.target] = slot
        live.add(step.target)


def generate(graph: g.Graph, name: str, weights: str, batch: int, comment: str) -> tuple[str, str]:
    plan = schedule(graph)
    layers = [s for s in plan.steps if s.kind == "layer"]
    tables = [table(s.stage.layer, s.stage.source.padded, weights) for s in layers]
    plane = max([prod(s.stage.conv_out) for s in layers if isinstance(s.stage.layer, g.Conv)], default=0)
    sizes = {"weights": sum(t.bytes for t in tables) + sum(4 * s.stage.layer.bias.size for s in layers),
             "buffers": 4 * batch * (sum(plan.slot_floats) + plane)}
    about = cgen._about(name, graph, weights, batch, sizes, comment)
    return cgen._header(name, plan, about, sizes), _source(name, plan, tables, batch, plane, about)


def _source(name: str, plan: Schedule, tables, batch: int, plane: int, about: str) -> str:
    layers = [s for s in plan.steps if s.kind == "layer"]
    acts = [op for s in plan.steps for op in s.ops if isinstance(op, g.Activation)]
    parts = [about, "#include <stddef.h>\n#include <stdint.h>\n",
             "#include <math.h>\n" if any(op.kind == "tanh" for op in acts) else "", f'#include "{name}.h"\n\n',
             f"#define NB {batch}\n\n"]
    for n, (step, t) in enumerate(zip(layers, tables)):
        for suffix, (ctype, values) in t.arrays.items():
            parts.append(cgen.c_array(f"L{n}_{suffix}", ctype, values))
        parts.append(cgen.c_array(f"L{n}_bias", "float", step.stage.layer.bias))
    for slot, floats in enumerate(plan.slot_floats):
        parts.append(f"static float buf{slot}[{max(floats, 1) * batch}];\n")
    if plane:
        parts.append(f"static float plane[{plane * batch}];\n")
    parts.append("\n")
    calls, n = "", 0
    for m, step in enumerate(plan.steps):
        target = f"buf{plan.slots[step.target]}"
        if step.kind == "layer":
            stage = step.stage
            kernel = cgen._conv if isinstance(stage.layer, g.Conv) else cgen._dense
            parts.append(kernel(n, stage, tables[n].storage))
            calls += f"    layer{n}(buf{plan.slots[step.sources[0]]} + {_offset(stage)} * NB, {target});\n"
            n += 1
        else:
            parts.append(_merge_kernel(m, plan, step))
            calls += f"    step{m}();\n"
    parts.append(_driver(name, plan, calls))
    return "".join(parts)


def _offset(stage: cplan.Stage) -> int:
    """Where a convolution with less padding than its source's border starts reading."""
    if not isinstance(stage.layer, g.Conv):
        return 0
    skip = stage.source.pad - stage.layer.padding[0]
    return skip * stage.source.padded[1] + skip


def _at(layout: cplan.Layout, c: str, y: str, x: str) -> str:
    hp, wp = layout.padded
    return f"(((({c}) * {hp} + ({y}) + {layout.pad}) * {wp} + ({x}) + {layout.pad}) * NB + b)"


def _merge_kernel(m: int, plan: Schedule, step: Step) -> str:
    """A sum, join or post step as a C function over the static buffers."""
    out = plan.layout(step.target)
    target = f"buf{plan.slots[step.target]}"
    head = f"static void step{m}(void) {{\n" + (
        f"    for (uint32_t i = 0; i < {out.size} * NB; i++) {target}[i] = 0.0f;  /* zero border */\n" if out.pad else "")
    if step.kind == "sum":
        terms = " + ".join(f"buf{plan.slots[v]}[{_at(plan.layout(v), 'c', 'y', 'x')}]" for v in step.sources)
        return (f"/* residual add of {len(step.sources)} branches */\n{head}"
                f"    for (int c = 0; c < {out.channels}; c++)\n        for (int y = 0; y < {out.height}; y++)\n"
                f"            for (int x = 0; x < {out.width}; x++)\n                for (int b = 0; b < NB; b++)\n"
                f"                    {target}[{_at(out, 'c', 'y', 'x')}] = {terms};\n}}\n\n")
    if step.kind == "join":
        body, offset = "", 0
        for v in step.sources:
            src = plan.layout(v)
            body += (f"    for (int c = 0; c < {src.channels}; c++)\n        for (int y = 0; y < {src.height}; y++)\n"
                     f"            for (int x = 0; x < {src.width}; x++)\n                for (int b = 0; b < NB; b++)\n"
                     f"                    {target}[{_at(out, f'c + {offset}', 'y', 'x')}] = "
                     f"buf{plan.slots[v]}[{_at(src, 'c', 'y', 'x')}];\n")
            offset += src.channels
        return f"/* concatenation of {len(step.sources)} branches along the channels */\n{head}{body}}}\n\n"
    source = step.sources[0]
    src = plan.layout(source)
    before, after, pool = cplan.split_after(step.ops, "a merge")
    (kh, kw), (sh, sw) = (pool.size, pool.stride) if pool else ((1, 1), (1, 1))
    shape = g.chain_shape([op for op in step.ops if not isinstance(op, g.Flatten)], plan.shapes[source])
    oh, ow = (shape[1], shape[2]) if len(shape) == 3 else (1, 1)
    if pool and pool.kind == "max":
        combine, finish = "v = t > v ? t : v;", ""
    else:
        combine, finish = "v += t;", (f" v /= {kh * kw}.0f;" if pool else "")
    out3 = cplan.Layout(src.channels, oh, ow, pad=out.pad)  # a flatten is the same memory, border 0
    return (f"/* after a merge: {', '.join(type(op).__name__ for op in step.ops)} */\n{head}"
            f"    for (int c = 0; c < {src.channels}; c++)\n        for (int py = 0; py < {oh}; py++)\n"
            f"            for (int px = 0; px < {ow}; px++)\n                for (int b = 0; b < NB; b++) {{\n"
            f"                    float v = 0.0f;\n"
            f"                    for (int dy = 0; dy < {kh}; dy++)\n"
            f"                        for (int dx = 0; dx < {kw}; dx++) {{\n"
            f"                            float t = buf{plan.slots[source]}"
            f"[{_at(src, 'c', f'py * {sh} + dy', f'px * {sw} + dx')}];\n"
            f"                            {cgen._activate(before, 't')}\n"
            f"                            if (dy == 0 && dx == 0) v = t; else {combine}\n"
            f"                        }}\n"
            f"                   {finish} {cgen._activate(after, 'v')}\n"
            f"                    {target}[{_at(out3, 'c', 'py', 'px')}] = v;\n"
            f"                }}\n}}\n\n")


def _driver(name: str, plan: Schedule, calls: str) -> str:
    first = plan.layout(0)
    c, h, w = plan.input_shape if len(plan.input_shape) == 3 else (plan.inputs, 1, 1)
    norm = "" if plan.normalize is None else (
        f" v = (v - {cgen._number('float', np.float32(plan.normalize.mean))}) / "
        f"{cgen._number('float', np.float32(plan.normalize.std))};")
    source, last, k = "buf0", f"buf{plan.slots[-1]}", plan.outputs
    return ("/* Pixels of lanes 0..count-1 into the input's buffer: scaled, normalised, with its border. */\n"
            f"static void load(const float *pixels, const uint8_t *bytes, int count) {{\n"
            + (f"    for (uint32_t i = 0; i < {first.size} * NB; i++) {source}[i] = 0.0f;\n" if first.pad else "")
            + f"    for (int b = 0; b < NB; b++)\n        for (int c = 0; c < {c}; c++)\n"
            f"            for (int y = 0; y < {h}; y++)\n                for (int x = 0; x < {w}; x++) {{\n"
            f"                    const int i = (c * {h} + y) * {w} + x;\n                    float v = 0.0f;\n"
            f"                    if (b < count) v = bytes ? (float)bytes[b * {plan.inputs} + i] / 255.0f : "
            f"pixels[b * {plan.inputs} + i];\n"
            f"                   {norm}\n"
            f"                    {source}[{_at(cplan.Layout(c, h, w, pad=first.pad), 'c', 'y', 'x')}] = v;\n"
            f"                }}\n}}\n\n"
            + cgen.entry_points(name, calls, plan.inputs, k, last))
