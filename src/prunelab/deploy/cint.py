"""Integer-only C99 for a compact model: ``generate(plan, name)`` -> (header text, source text). Pure.

The back end of ``intplan`` (the arithmetic is described there; ``intref`` computes the same in
Python, bit for bit). No float, no double, no division, no 64-bit arithmetic: the object needs no
FPU and pulls no soft-float, division or long-multiply helper from libgcc, so it runs on a
Cortex-M0 or a small RISC-V core as it is. Only <stdint.h> is included; no heap, no stdio.

Memory: weights are ``static const`` sparse rows, per layer the smaller of two layouts (``_table``:
gap and int8 weight pairs, or a row's weights grouped by value so the inputs sharing a weight are
summed and multiplied once); activations live in two static byte buffers used alternately, sized
by ``intplan.ram_bytes``. A convolution computes each pooled
output straight from its window's accumulators, so neither a pre-pooling plane nor a full
convolution output is ever stored.

API (``<name>.h``):
    int  <name>_classify(const uint8_t pixels[N]);                  pixels 0..255, returns the class
    void <name>_scores_int(const uint8_t pixels[N], int32_t scores[K]);  the int32 scores
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from prunelab.deploy import graph as g
from prunelab.deploy.ctables import MAX_GAP, rows
from prunelab.deploy.intplan import IntPlan, IntStage, ram_bytes
from prunelab.errors import PrunelabError


LAYOUTS = ("smaller", "pairs", "groups")


def generate(plan: IntPlan, name: str, comment: str = "", layout: str = "smaller") -> tuple[str, str]:
    """``layout``: each layer's smaller table (the default), or one layout for every layer."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name or ""):
        raise PrunelabError(f"'{name}' is not a C identifier (letters, digits and _, not starting with a digit)")
    if not isinstance(plan.stages[-1].stage.layer, g.Dense):
        raise PrunelabError("the integer C export needs a model that ends with a linear layer")
    if layout not in LAYOUTS:
        raise PrunelabError(f"unknown table layout '{layout}'; choose from {', '.join(LAYOUTS)}")
    tables = [_table(stage, layout) for stage in plan.stages]
    ram = ram_bytes(plan)
    sizes = {"weights": sum(t["bytes"] for t in tables), "ram": sum(ram.values()), "stack_scores": 4 * plan.plan.outputs}
    about = _about(name, plan, sizes, ram, comment)
    return _header(name, plan, about, sizes), _source(name, plan, tables, ram, about)


def _table(stage: IntStage, layout: str = "smaller") -> dict:
    """One layer's sparse rows in the smaller of two layouts (both exact; the sum is the same):

    - pairs: per surviving weight a gap from the previous one's input and its int8 value;
    - groups: a row's weights grouped by value, per group the value and a count, then the gaps
      of its inputs from the row's base; the inputs of a group are summed and multiplied once
      (a k-means layer has few distinct values, so most multiplies go).

    Gaps are bytes when every gap fits, else 16 bits (a layer whose rows span over 255 inputs)."""
    layer = replace(stage.stage.layer, weight=stage.weight.astype(np.float32))
    unit_rows = [(offsets.astype(np.int64), values.astype(np.int64)) for offsets, values in
                 rows(layer, stage.stage.source.padded)]
    pairs, groups = _pairs(unit_rows), _groups(unit_rows)
    chosen = {"pairs": pairs, "groups": groups}.get(layout) or min(
        pairs, groups, key=lambda t: (t["bytes"], t["kind"] == "groups"))
    return _finish(chosen["kind"], {**chosen["arrays"], "bias": ("int32_t", stage.bias.tolist())})


def _typed(values, signed=False) -> tuple[str, list]:
    values = list(values)
    top = max(values, default=0)
    if signed:
        return "int8_t", values
    if top > 65535:
        raise PrunelabError("a sparse row spans more than 65,535 inputs")
    return ("uint8_t" if top <= 255 else "uint16_t"), values


def _finish(kind: str, arrays: dict) -> dict:
    size = {"uint16_t": 2, "uint8_t": 1, "int8_t": 1, "int32_t": 4}
    return {"kind": kind, "arrays": arrays, "bytes": sum(size[t] * max(len(v), 1) for t, v in arrays.values())}


def _pairs(unit_rows) -> dict:
    starts, gaps, weights = [0], [], []
    for offsets, values in unit_rows:
        gaps += np.diff(offsets, prepend=0).tolist()
        weights += values.tolist()
        starts.append(len(gaps))
    return _finish("pairs", {"start": _typed(starts), "gap": _typed(gaps), "weight": _typed(weights, True)})


def _groups(unit_rows) -> dict:
    group_starts, gap_starts, values, counts, gaps = [0], [0], [], [], []
    for offsets, weights in unit_rows:
        for value in np.unique(weights):
            chosen = offsets[weights == value]
            for part in range(0, len(chosen), 255):  # a count is a byte
                values.append(int(value))
                counts.append(len(chosen[part:part + 255]))
                gaps += np.diff(chosen[part:part + 255], prepend=0).tolist()
        group_starts.append(len(values))
        gap_starts.append(len(gaps))
    return _finish("groups", {"group": _typed(group_starts), "gapstart": _typed(gap_starts), "value": _typed(values, True),
                              "count": ("uint8_t", counts), "gap": _typed(gaps)})


def _about(name, plan, sizes, ram, comment) -> str:
    graph_arch = "-".join(str(s.stage.layer.weight.shape[0]) for s in plan.stages)
    lines = [f"{name}: generated by prunelab, integer arithmetic (int8 weights, 8-bit activations, int32 sums).",
             f"Architecture {graph_arch}, input {list(plan.plan.input_shape)} as uint8 pixels.",
             f"Weights: {sizes['weights']:,} bytes of const tables (biases and row starts included).",
             f"Static RAM: {sizes['ram']:,} bytes ({', '.join(f'{k} {v:,}' for k, v in ram.items())}); the "
             f"caller's {plan.plan.inputs:,}-byte image is not counted; the stack (measured on the board) holds "
             f"classify's {sizes['stack_scores']} bytes of int32 scores.",
             "Right shifts of negative int32 values are arithmetic (gcc, clang and every ARM/RISC-V compiler)."]
    if comment:
        lines.append(comment)
    return "/* " + "\n * ".join(lines) + "\n */\n"


def _header(name, plan, about, sizes) -> str:
    guard, up = f"{name.upper()}_H", name.upper()
    return (f"{about}#ifndef {guard}\n#define {guard}\n\n#include <stdint.h>\n\n"
            f"#define {up}_INPUTS {plan.plan.inputs}\n#define {up}_CLASSES {plan.plan.outputs}\n"
            f"#define {up}_WEIGHT_BYTES {sizes['weights']}\n#define {up}_RAM_BYTES {sizes['ram']}\n\n"
            f"int {name}_classify(const uint8_t pixels[{plan.plan.inputs}]);\n"
            f"void {name}_scores_int(const uint8_t pixels[{plan.plan.inputs}], int32_t scores[{plan.plan.outputs}]);\n\n"
            f"#endif\n")


def _source(name, plan, tables, ram, about) -> str:
    parts = [about, "#include <stdint.h>\n", f'#include "{name}.h"\n\n',
             "#if defined(__GNUC__)\n#define NOINLINE __attribute__((noinline))\n#else\n#define NOINLINE\n#endif\n\n"]
    for n, table in enumerate(tables):
        parts.append(f"/* {plan.stages[n].name}: {table['kind']} */\n")
        for suffix, (ctype, values) in table["arrays"].items():
            parts.append(_array(f"L{n}_{suffix}", ctype, values))
    parts.append(f"\nstatic uint8_t buf_a[{max(ram['buf_a'], 1)}];\n")
    if ram["buf_b"]:
        parts.append(f"static uint8_t buf_b[{ram['buf_b']}];\n")
    parts.append("\n")
    kernels = {(t["kind"], _ctype(s.source_range), t["arrays"]["gap"][0]) for s, t in zip(plan.stages, tables)
               if not _pools_in_one_pass(s, t)}
    parts += [_kernel(*key) for key in sorted(kernels)]
    for n, (stage, table) in enumerate(zip(plan.stages, tables)):
        parts.append(_conv(n, stage, table) if isinstance(stage.stage.layer, g.Conv) else _dense(n, stage, table))
    parts.append(_driver(name, plan))
    return "".join(parts)


def _array(cname: str, ctype: str, values) -> str:
    items = [str(int(v)) for v in values] or ["0"]
    lines, line = [], ""
    for item in items:
        if len(line) + len(item) > 96:
            lines.append(line.rstrip())
            line = ""
        line += item + ", "
    lines.append(line.rstrip().rstrip(","))
    return f"static const {ctype} {cname}[{len(items)}] = {{\n    " + "\n    ".join(lines) + "\n};\n"


def _ctype(value_range) -> str:
    return "uint8_t" if value_range[0] >= 0 else "int8_t"


def _kernel_name(kind: str, source: str, gap: str) -> str:
    return f"{kind}_{'u8' if source == 'uint8_t' else 's8'}_{'g8' if gap == 'uint8_t' else 'g16'}"


def _kernel(kind: str, source: str, gap: str) -> str:
    """acc plus one row's weights times the inputs they read, from ``in`` (the row's base). Kept out
    of line (NOINLINE), with bottom-tested loops over an index, so that gcc -Os for ARMv6-M keeps
    each loop in registers: 9 instructions a weight for pairs, 7 an input for groups (inlined into
    the layer loops it spilled to the stack, at 16 a weight)."""
    name = _kernel_name(kind, source, gap)
    if kind == "pairs":
        return (f"static NOINLINE int32_t {name}(const {source} *in, const {gap} *gap, const int8_t *weight, "
                f"uint32_t n, int32_t acc) {{\n"
                f"    uint32_t k = 0;\n"
                f"    if (n) do {{ in += gap[k]; acc += (int32_t)weight[k] * (int32_t)*in; }} while (++k != n);\n"
                f"    return acc;\n}}\n\n")
    total = f"sum_{name}"
    return (f"static NOINLINE int32_t {total}(const {source} *at, const {gap} *gap, const {gap} *stop) {{\n"
            f"    int32_t sum = 0;\n"
            f"    do {{ at += *gap++; sum += *at; }} while (gap != stop);\n"
            f"    return sum;\n}}\n\n"
            f"static NOINLINE int32_t {name}(const {source} *in, const {gap} *gap, const int8_t *value, "
            f"const uint8_t *count, uint32_t groups, int32_t acc) {{\n"
            f"    for (uint32_t group = 0; group != groups; group++) {{  /* inputs that share a weight: summed, one multiply */\n"
            f"        const {gap} *stop = gap + count[group];\n"
            f"        acc += (int32_t)value[group] * {total}(in, gap, stop);\n"
            f"        gap = stop;\n    }}\n    return acc;\n}}\n\n")


def _row(n: int, stage: IntStage, table: dict) -> tuple[str, str]:
    """(declarations of row o's table pointers, the kernel call for input ``in``)."""
    gap = table["arrays"]["gap"][0]
    name = _kernel_name(table["kind"], _ctype(stage.source_range), gap)
    if table["kind"] == "pairs":
        return (f"const {gap} *gap = L{n}_gap + L{n}_start[o];\n"
                f"        const int8_t *first = L{n}_weight + L{n}_start[o];\n"
                f"        const uint32_t count = L{n}_start[o + 1] - L{n}_start[o];\n",
                f"{name}(in, gap, first, count, L{n}_bias[o])")
    return (f"const {gap} *gap = L{n}_gap + L{n}_gapstart[o];\n"
            f"        const int8_t *first = L{n}_value + L{n}_group[o];\n"
            f"        const uint8_t *count = L{n}_count + L{n}_group[o];\n"
            f"        const uint32_t groups = L{n}_group[o + 1] - L{n}_group[o];\n",
            f"{name}(in, gap, first, count, groups, L{n}_bias[o])")


def _store(stage: IntStage, var: str) -> str:
    """Requantize ``var`` (int32) into the stage's output type, clamped to its range."""
    lo, hi = stage.target_range
    return (f"int32_t q = ({var} * {stage.multiplier} + {1 << (stage.shift - 1)}) >> {stage.shift}; "
            f"if (q < {lo}) q = {lo}; if (q > {hi}) q = {hi};")


def _conv(n: int, stage: IntStage, table: dict) -> str:
    st, layer = stage.stage, stage.stage.layer
    ho, wo = st.conv_out
    _, wp = st.source.padded
    sh, sw = layer.stride
    pool = st.pool
    (kh, kw), (ph, pw) = (pool.size, pool.stride) if pool else ((1, 1), (1, 1))
    dh, dw = st.target.padded
    src, dst = _ctype(stage.source_range), _ctype(stage.target_range)
    combine = "if ((dy == 0 && dx == 0) || acc > best) best = acc;" if pool is None or pool.kind == "max" \
        else "best += acc;"
    declare, call = _row(n, stage, table)
    if _pools_in_one_pass(stage, table):
        return _window_kernel(n, stage, table) + _pooled_conv(n, stage, table)
    return (f"/* {layer.name}: convolution {tuple(layer.weight.shape)}, stride {layer.stride}, output {ho}x{wo}"
            f"{f', {pool.kind} pool {pool.size}' if pool else ''}; int32 bound {stage.bound:,} */\n"
            f"static void layer{n}(const {src} *restrict source, {dst} *restrict target) {{\n"
            + (f"    for (uint32_t i = 0; i < {st.target.size}; i++) target[i] = 0;  /* zero border */\n"
               if st.target.pad else "")
            + f"    for (int o = 0; o < {layer.weight.shape[0]}; o++) {{\n"
            f"        {declare}"
            f"        for (int py = 0; py < {st.target.height}; py++)\n"
            f"            for (int px = 0; px < {st.target.width}; px++) {{\n"
            f"                int32_t best = 0;\n"
            f"                for (int dy = 0; dy < {kh}; dy++)\n"
            f"                    for (int dx = 0; dx < {kw}; dx++) {{\n"
            f"                        const {src} *in = source + (py * {ph} + dy) * {sh * wp} + (px * {pw} + dx) * {sw};\n"
            f"                        const int32_t acc = {call};\n"
            f"                        {combine}\n"
            f"                    }}\n"
            f"                {_store(stage, 'best')}\n"
            f"                target[(o * {dh} + py + {st.target.pad}) * {dw} + px + {st.target.pad}] = ({dst})q;\n"
            f"            }}\n"
            f"    }}\n}}\n\n")


def _pools_in_one_pass(stage: IntStage, table: dict) -> bool:
    pool = stage.stage.pool
    return isinstance(stage.stage.layer, g.Conv) and pool is not None and pool.size == (2, 2) \
        and table["kind"] == "pairs"


def _window_kernel(n: int, stage: IntStage, table: dict) -> str:
    """The four accumulators of a 2x2 pooling window in one pass over the row's weights: each
    weight and gap is loaded once for four products, their inputs at fixed distances (constants, so
    ARMv6-M loads them with immediate offsets): about 6 instructions a product instead of 9."""
    st, layer = stage.stage, stage.stage.layer
    _, wp = st.source.padded
    sh, sw = layer.stride
    src, gap = _ctype(stage.source_range), table["arrays"]["gap"][0]
    if st.pool.kind == "max":
        result = ("    int32_t best = a0 > a1 ? a0 : a1;\n    best = best > a2 ? best : a2;\n"
                  "    return best > a3 ? best : a3;\n")
    else:
        result = "    return a0 + a1 + a2 + a3;\n"
    step = (f"in += gap[k]; const int32_t v = weight[k]; a0 += v * in[0]; a1 += v * in[{sw}]; "
            f"a2 += v * in[{sh * wp}]; a3 += v * in[{sh * wp + sw}];")
    return (f"/* {layer.name}: a 2x2 {st.pool.kind} pooling window of the convolution at once */\n"
            f"static NOINLINE int32_t window{n}(const {src} *in, const {gap} *gap, const int8_t *weight, "
            f"uint32_t n, int32_t bias) {{\n"
            f"    int32_t a0 = bias, a1 = bias, a2 = bias, a3 = bias;\n"
            f"    uint32_t k = 0;\n"
            f"    if (n) do {{ {step} }} while (++k != n);\n{result}}}\n\n")


def _pooled_conv(n: int, stage: IntStage, table: dict) -> str:
    st, layer = stage.stage, stage.stage.layer
    _, wp = st.source.padded
    sh, sw = layer.stride
    ph, pw = st.pool.stride
    dh, dw = st.target.padded
    src, dst, gap = _ctype(stage.source_range), _ctype(stage.target_range), table["arrays"]["gap"][0]
    return (f"/* {layer.name}: convolution {tuple(layer.weight.shape)}, stride {layer.stride}, output "
            f"{st.conv_out[0]}x{st.conv_out[1]}, {st.pool.kind} pool {st.pool.size}; int32 bound {stage.bound:,} */\n"
            f"static void layer{n}(const {src} *restrict source, {dst} *restrict target) {{\n"
            + (f"    for (uint32_t i = 0; i < {st.target.size}; i++) target[i] = 0;  /* zero border */\n"
               if st.target.pad else "")
            + f"    for (int o = 0; o < {layer.weight.shape[0]}; o++) {{\n"
            f"        const {gap} *gap = L{n}_gap + L{n}_start[o];\n"
            f"        const int8_t *first = L{n}_weight + L{n}_start[o];\n"
            f"        const uint32_t count = L{n}_start[o + 1] - L{n}_start[o];\n"
            f"        for (int py = 0; py < {st.target.height}; py++)\n"
            f"            for (int px = 0; px < {st.target.width}; px++) {{\n"
            f"                const int32_t best = window{n}(source + py * {ph * sh * wp} + px * {pw * sw}, gap, first, "
            f"count, L{n}_bias[o]);\n"
            f"                {_store(stage, 'best')}\n"
            f"                target[(o * {dh} + py + {st.target.pad}) * {dw} + px + {st.target.pad}] = ({dst})q;\n"
            f"            }}\n"
            f"    }}\n}}\n\n")


def _dense(n: int, stage: IntStage, table: dict) -> str:
    layer = stage.stage.layer
    src = _ctype(stage.source_range)
    last = stage.target_range is None
    dst = "int32_t" if last else _ctype(stage.target_range)
    store = "target[o] = acc;" if last else f"{_store(stage, 'acc')} target[o] = ({dst})q;"
    declare, call = _row(n, stage, table)
    return (f"/* {layer.name}: linear {tuple(layer.weight.shape)}; int32 bound {stage.bound:,} */\n"
            f"static void layer{n}(const {src} *restrict in, {dst} *restrict target) {{\n"
            f"    for (int o = 0; o < {layer.weight.shape[0]}; o++) {{\n"
            f"        {declare}"
            f"        const int32_t acc = {call};\n"
            f"        {store}\n"
            f"    }}\n}}\n\n")


def _driver(name: str, plan: IntPlan) -> str:
    k, inputs = plan.plan.outputs, plan.plan.inputs
    buffers = ("buf_a", "buf_b")
    body, first = "", plan.stages[0]
    if plan.first_pad:  # a padded copy of the image in buffer B, the border at the pixel value of a normalised 0
        c, h, w = plan.plan.input_shape
        (hp, wp), pad = first.stage.source.padded, plan.first_pad
        body += (f"    for (uint32_t i = 0; i < {first.stage.source.size}; i++) buf_b[i] = {first.pad_value};\n"
                 f"    for (int c = 0; c < {c}; c++)\n        for (int y = 0; y < {h}; y++)\n"
                 f"            for (int x = 0; x < {w}; x++)\n"
                 f"                buf_b[(c * {hp} + y + {pad}) * {wp} + x + {pad}] = pixels[(c * {h} + y) * {w} + x];\n")
        source = "buf_b"
    else:
        source = "pixels"
    for n, stage in enumerate(plan.stages):
        target = "scores" if stage.target_range is None else buffers[n % 2]
        cast = lambda buf, rng: buf if buf in ("pixels", "scores") or rng is None or rng[0] >= 0 else f"(int8_t *){buf}"
        body += f"    layer{n}({cast(source, stage.source_range)}, {cast(target, stage.target_range)});\n"
        source = target
    return (f"void {name}_scores_int(const uint8_t pixels[{inputs}], int32_t scores[{k}]) {{\n{body}}}\n\n"
            f"int {name}_classify(const uint8_t pixels[{inputs}]) {{\n"
            f"    int32_t scores[{k}];\n"
            f"    int best = 0;\n"
            f"    {name}_scores_int(pixels, scores);\n"
            f"    for (int j = 1; j < {k}; j++)\n"
            f"        if (scores[j] > scores[best]) best = j;\n"
            f"    return best;\n}}\n")
