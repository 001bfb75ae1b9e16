"""Activation ranges for the integer engine, measured on training images: for every stage but the
last (``cplan``), the largest |value| of its output (after its activation and pooling) that the
float compact model produces. ``intplan`` turns each into the stage's 8-bit output scale. They
travel in the compressed file's metadata, so the integer export needs no data: ``calibration`` is
the list of ranges in the order of the file's layers (the last has none), each rounded up to three
significant digits (an 8-bit scale needs no more), about 40 bytes of a file.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from prunelab.deploy import graph as g
from prunelab.deploy.module import to_module
from prunelab.errors import PrunelabError

KEY = "calibration"
DEFAULT_IMAGES = 10_000


def activation_ranges(graph: g.Graph, images: np.ndarray, chunk: int = 1000) -> dict[str, float]:
    """Layer name -> the largest |output| of its stage over ``images`` (uint8, (N, *input_shape))."""
    if not len(images):
        raise PrunelabError("calibration needs at least one image")
    module = to_module(graph)
    weighted = [i for i, op in enumerate(graph.ops) if isinstance(op, g.WEIGHTED)]
    ends = {nxt - 1: graph.ops[at].name for at, nxt in zip(weighted, weighted[1:])}  # op index -> stage's layer
    ranges = dict.fromkeys(ends.values(), 0.0)
    with torch.no_grad():
        for start in range(0, len(images), chunk):
            x = torch.from_numpy(np.asarray(images[start:start + chunk], np.float32) / 255.0)
            x = x.reshape(len(x), *graph.input_shape)
            for i, layer in enumerate(module):
                x = layer(x)
                if i in ends:
                    ranges[ends[i]] = max(ranges[ends[i]], float(x.abs().max()))
    return ranges


def stored_ranges(compressed) -> dict[str, float] | None:
    """Layer name -> range from a file's metadata, checked, or None when it holds none. Also reads
    the first form written (an object with a name -> range "ranges" table)."""
    entry = compressed.metadata.get(KEY)
    if entry is None:
        return None
    names = [layer.name for layer in compressed.layers][:-1]
    if isinstance(entry, dict) and isinstance(entry.get("ranges"), dict):
        ranges = entry["ranges"]
    elif isinstance(entry, list) and len(entry) == len(names):
        ranges = dict(zip(names, entry))
    else:
        raise PrunelabError(f"the file's calibration is malformed (a range for each of {', '.join(names)})")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1e30 for v in ranges.values()):
        raise PrunelabError("the file's calibration is malformed (each range a number of 0 or more)")
    return {k: float(v) for k, v in ranges.items()}


def rounded_up(value: float, digits: int = 3) -> float:
    """``value`` rounded up to ``digits`` significant digits (a range never shrinks: nothing clips)."""
    if value <= 0:
        return 0.0
    exponent = math.floor(math.log10(value)) - digits + 1
    return float(f"{math.ceil(value / 10.0 ** exponent)}e{exponent}")


def calibrated(compressed, images: np.ndarray, model_name: str | None = None):
    """``compressed`` (a ``CompressedModel``) with the ranges its compact model gives on ``images``
    (uint8, any shape with the file's pixels per image) in its metadata; a model with residual adds
    or concatenations, which the integer engine does not run, is returned as it is."""
    from prunelab.compress import compact_graph, file_input_shape
    from prunelab.compression import CompressedModel

    shaped = np.asarray(images).reshape(len(images), *file_input_shape(compressed))
    graph = compact_graph(compressed, model_name)
    if not graph.is_chain():  # nothing to calibrate for: the integer engine runs chains (cplan)
        return compressed
    ranges = activation_ranges(graph, shaped)
    entry = [rounded_up(ranges[layer.name]) for layer in compressed.layers[:-1]]
    return CompressedModel(model=compressed.model, metadata={**compressed.metadata, KEY: entry},
                           layers=compressed.layers, dense=compressed.dense, kept=compressed.kept)
