"""The integer engine in Python, bit for bit: what the generated integer C computes, for checking
it (``prunelab evaluate --engine intref``, and the tests that compare both on every test image).

Convolutions and products run as float64 on integer values: every product and partial sum is an
integer below 2^53 (the plan bounds |acc| below 2^30), so float64 holds them exactly, and the
result does not depend on the order of the sum. Requantization runs in int64 (``intplan.requantize``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from prunelab.deploy import graph as g
from prunelab.deploy.intplan import IntPlan, requantize
from prunelab.errors import PrunelabError

CHUNK = 1000  # images a pass: float64 planes of LeNet-5-Caffe's conv1 take 90 MB at 1,000


def scores(plan: IntPlan, pixels: np.ndarray) -> np.ndarray:
    """int32 scores (N, K) for uint8 ``pixels`` of shape (N, *input_shape)."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        raise PrunelabError("the integer engine takes uint8 pixels (0..255)")
    shape = tuple(plan.plan.input_shape)
    if pixels.shape[1:] != shape and pixels.reshape(len(pixels), -1).shape[1] != int(np.prod(shape)):
        raise PrunelabError(f"the model takes images of shape {shape}, not {pixels.shape[1:]}")
    pixels = pixels.reshape(len(pixels), *shape)
    parts = [_forward(plan, pixels[i:i + CHUNK]) for i in range(0, len(pixels), CHUNK)]
    return np.concatenate(parts).astype(np.int32) if parts else np.zeros((0, plan.plan.outputs), np.int32)


def classify(plan: IntPlan, pixels: np.ndarray) -> np.ndarray:
    return scores(plan, pixels).argmax(1)  # the first largest, as the C loop picks it


def _forward(plan: IntPlan, pixels: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(pixels.astype(np.float64))
    for stage in plan.stages:
        layer = stage.stage.layer
        weight, bias = torch.from_numpy(stage.weight.astype(np.float64)), torch.from_numpy(stage.bias.astype(np.float64))
        if isinstance(layer, g.Conv):
            pad = layer.padding[0]
            if pad:
                x = F.pad(x, (pad, pad, pad, pad), value=float(stage.pad_value))
            acc = F.conv2d(x, weight, bias, stride=layer.stride, groups=layer.groups)
            pool = stage.stage.pool
            if pool is not None:
                acc = (F.max_pool2d(acc, pool.size, pool.stride) if pool.kind == "max" else
                       F.avg_pool2d(acc, pool.size, pool.stride) * stage.window)  # the window's sum: exact
        else:
            x = x.reshape(len(x), -1)
            if layer.inputs is not None:
                x = x[:, torch.from_numpy(layer.inputs)]
            acc = x @ weight.T + bias
        acc = acc.round().to(torch.int64).numpy()  # integers already; round() guards the avg-pool product
        if stage.target_range is None:
            return acc
        x = torch.from_numpy(requantize(acc, stage).astype(np.float64))
    raise PrunelabError("a plan ends with its last stage")
