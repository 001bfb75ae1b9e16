"""A graph's operations as plain data, for a compressed file's metadata, and back. Pure.

A file made from a model that is not built in stores its operations (``spec``) beside its layers,
so it decodes into its compact graph, and so into ONNX and C, without the user's class. The spec
holds no weights (the file's layers do) and no code: each entry is one of a few fixed shapes of
small numbers and names, checked field by field when read; anything else is refused in one line.

    {"op": "normalize", "mean": m, "std": s}   {"op": "relu"} / {"op": "tanh"}   {"op": "flatten"}
    {"op": "conv", "name": N, "stride": [sh, sw], "padding": [ph, pw], "groups": G}
    {"op": "dense", "name": N}                  {"op": "pool", "kind": "max"|"avg", "size": [h, w], "stride": [h, w]}
    {"op": "merge", "kind": "add"|"concat", "branches": [[op, ...], ...]}   (branches nest; [] is the input)
"""

from __future__ import annotations

import math

import numpy as np

from prunelab.deploy import graph as g
from prunelab.errors import PrunelabError

MAX_OPS = 256
MAX_SIDE = 1 << 12  # strides, paddings, pooling windows and groups
MAX_DEPTH = 16  # merges within merges
MAX_BRANCHES = 64


def to_spec(graph: g.Graph) -> list[dict]:
    return _chain_spec(graph.ops)


def _chain_spec(ops) -> list[dict]:
    spec = []
    for op in ops:
        if isinstance(op, g.Conv):
            spec.append({"op": "conv", "name": op.name, "stride": list(op.stride), "padding": list(op.padding),
                         "groups": op.groups})
        elif isinstance(op, g.Dense):
            spec.append({"op": "dense", "name": op.name})
        elif isinstance(op, g.Activation):
            spec.append({"op": op.kind})
        elif isinstance(op, g.Pool):
            spec.append({"op": "pool", "kind": op.kind, "size": list(op.size), "stride": list(op.stride)})
        elif isinstance(op, g.Flatten):
            spec.append({"op": "flatten"})
        elif isinstance(op, g.Normalize):
            spec.append({"op": "normalize", "mean": op.mean, "std": op.std})
        elif isinstance(op, g.Merge):
            spec.append({"op": "merge", "kind": op.kind, "branches": [_chain_spec(b) for b in op.branches]})
        else:
            raise PrunelabError(f"no spec for operation {type(op).__name__}")
    return spec


def skeleton(spec, shapes: dict) -> list:
    """The operations of ``spec``, each weighted one with zero weights of its layer's shape in
    ``shapes`` (name -> original weight shape, from the file's layers): weights are filled in
    from the layers afterwards."""
    if not isinstance(spec, list) or not 0 < len(spec) <= MAX_OPS:
        raise PrunelabError(f"the file's graph must be a list of 1..{MAX_OPS} operations")
    count = [0]
    ops = _chain(spec, shapes, "the file's graph", 0, count)
    names = [op.name for op in g.each_op(ops) if isinstance(op, g.WEIGHTED)]
    if names != list(shapes):
        raise PrunelabError(f"the file's graph names layers {names[:8]}, its layers are {list(shapes)[:8]}")
    return ops


def _chain(spec, shapes: dict, where: str, depth: int, count: list) -> list:
    if not isinstance(spec, list):
        raise PrunelabError(f"{where} is not a list of operations")
    ops = []
    for n, entry in enumerate(spec):
        count[0] += 1
        if count[0] > MAX_OPS:
            raise PrunelabError(f"the file's graph holds more than {MAX_OPS} operations")
        ops.append(_op(entry, shapes, f"{where}, operation {n}", depth, count))
    return ops


def _op(entry, shapes: dict, where: str, depth: int, count: list):
    kind = entry.get("op") if isinstance(entry, dict) else None
    fields = {"conv": {"op", "name", "stride", "padding", "groups"}, "dense": {"op", "name"}, "relu": {"op"},
              "tanh": {"op"}, "flatten": {"op"}, "pool": {"op", "kind", "size", "stride"},
              "normalize": {"op", "mean", "std"}, "merge": {"op", "kind", "branches"}}
    if kind not in fields or set(entry) != fields[kind]:
        raise PrunelabError(f"{where} is not one of the operations a file may hold")
    if kind == "merge":
        branches = entry["branches"]
        if entry["kind"] not in ("add", "concat") or not isinstance(branches, list) \
                or not 2 <= len(branches) <= MAX_BRANCHES or depth >= MAX_DEPTH:
            raise PrunelabError(f"{where}: a merge is an add or a concat of 2..{MAX_BRANCHES} branches, nested at "
                                f"most {MAX_DEPTH} deep")
        return g.Merge(entry["kind"], tuple(tuple(_chain(b, shapes, f"{where}, branch {i}", depth + 1, count))
                                            for i, b in enumerate(branches)))
    if kind in ("conv", "dense"):
        name = entry["name"]
        if not isinstance(name, str) or name not in shapes:
            raise PrunelabError(f"{where} names no layer of the file")
        shape = shapes[name]
        if len(shape) != (4 if kind == "conv" else 2):
            raise PrunelabError(f"{where}: layer {name} has a weight of shape {shape}")
        weight, bias = np.zeros(shape, np.float32), np.zeros(shape[0], np.float32)
        if kind == "dense":
            return g.Dense(name, weight, bias)
        groups = _count(entry["groups"], where)
        return g.Conv(name, weight, bias, _pair(entry["stride"], where, 1), _pair(entry["padding"], where, 0), groups)
    if kind in ("relu", "tanh"):
        return g.Activation(kind)
    if kind == "flatten":
        return g.Flatten()
    if kind == "pool":
        if entry["kind"] not in ("max", "avg"):
            raise PrunelabError(f"{where}: pooling is max or avg")
        return g.Pool(entry["kind"], _pair(entry["size"], where, 1), _pair(entry["stride"], where, 1))
    mean, std = entry["mean"], entry["std"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (mean, std)) \
            or std <= 0:
        raise PrunelabError(f"{where}: normalisation needs a finite mean and a positive std")
    return g.Normalize(float(mean), float(std))


def _count(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIDE:
        raise PrunelabError(f"{where}: {value!r} is not a whole number in 1..{MAX_SIDE}")
    return value


def _pair(value, where: str, low: int) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2 or any(
            isinstance(v, bool) or not isinstance(v, int) or not low <= v <= MAX_SIDE for v in value):
        raise PrunelabError(f"{where}: {value!r} is not two whole numbers in {low}..{MAX_SIDE}")
    return int(value[0]), int(value[1])
