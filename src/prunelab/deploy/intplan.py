"""The integer plan of a compact graph: int8 weights, int32 biases and accumulators, 8-bit
activations, requantization by an integer multiplier and shift. Pure: what the integer C
(``cint``) and the bit-exact Python reference (``intref``) both compute.

Per stage (a weighted layer with the activation and pooling after it, ``cplan``):

- weights: the layer's values (k-means centroids) divided by one scale per layer,
  ``s_w = max |w| / 127``, and rounded: int8 codes in -127..127 (what this costs in accuracy is
  measured, not assumed: ``prunelab evaluate --engine c --arithmetic int8``); with ``scales =
  "channel"`` each output channel of a hidden layer has its own ``s_w``, bias scale and
  requantizer (as TF Lite quantizes convolutions), for layers whose channels differ in range (a
  folded BatchNorm); the last layer keeps one scale, so its int32 sums compare as scores;
- input: the first stage reads the caller's pixels (0..255) as they are; the model's
  normalisation ``(p / 255 - mean) / std`` is folded into that layer's bias, and a padded first
  convolution pads with the pixel value nearest to a normalised 0 (round(255 * mean)); later stages
  read the previous stage's 8-bit output, whose zero is 0;
- accumulation: ``acc = bias_q + sum w_q * x_q`` in int32, with ``bias_q = round(b / (s_in s_w))``;
  the largest |partial sum| any input in range can produce, in any order of the terms, is computed
  from the weights, and a layer whose bound passes 2^30 is refused, so no input (all 0, all 255,
  anything) can overflow, however the C groups its terms;
- pooling on the accumulators (max commutes with a monotone requantization; average pooling adds
  the window and divides inside the multiplier), so no pre-pooling plane is stored;
- requantization: ``q = clamp((acc * M + 2^(shift-1)) >> shift)`` with ``M / 2^shift`` the
  nearest to ``s_in s_w / s_out`` for which ``|acc| M`` stays below 2^30 (as TF Lite and CMSIS-NN
  requantize, with a 32-bit product instead of their 64-bit one: a Cortex-M0 has no 64-bit
  multiply); ``>>`` is an arithmetic shift (floor), as gcc and clang compile it for signed ints;
- output: uint8 (0..255) after a ReLU, else int8 (-127..127), with ``s_out`` from the stage's
  calibrated range (``calibrate``: the largest |activation| on training images); the last stage
  keeps its int32 accumulators as the scores (class = first largest).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from prunelab.deploy import cplan
from prunelab.deploy import graph as g
from prunelab.errors import PrunelabError

SCALES = ("layer", "channel")
ACC_LIMIT = 1 << 30  # |acc| and |acc * M| stay below this: room for the rounding term in int32
INT8 = (-127, 127)
UINT8 = (0, 255)


@dataclass(frozen=True, eq=False)
class IntStage:
    stage: cplan.Stage
    weight: np.ndarray  # int64 codes, the layer's shape, each in -127..127
    bias: np.ndarray  # (O,) int64, int32 range
    source_range: tuple[int, int]  # values the input can take
    target_range: tuple[int, int] | None  # of the output; None: the last stage (int32 scores)
    multiplier: int | np.ndarray = 0  # requantization M (0 for the last stage); per channel: (O,) int64
    shift: int | np.ndarray = 0
    pad_value: int = 0  # what the padded border of this stage's input holds
    bound: int = 0  # the largest |acc| (times the pooling window for average pooling) any input gives

    @property
    def name(self) -> str:
        return self.stage.layer.name

    @property
    def per_channel(self) -> bool:
        return isinstance(self.multiplier, np.ndarray)

    @property
    def window(self) -> int:
        """Accumulators that requantize into one output: the average-pooling window, else 1."""
        pool = self.stage.pool
        return prod(pool.size) if pool is not None and pool.kind == "avg" else 1


@dataclass(frozen=True, eq=False)
class IntPlan:
    plan: cplan.Plan
    stages: list[IntStage]
    input_scale: float  # what one pixel step is worth at the first layer's input (normalisation folded)

    @property
    def first_pad(self) -> int:
        first = self.stages[0].stage
        return first.source.pad if isinstance(first.layer, g.Conv) else 0


def int_plan(graph: g.Graph, ranges: dict, scales: str = "layer") -> IntPlan:
    """The integer plan of ``graph`` given each hidden stage's calibrated output range (layer
    name -> largest |activation|, ``calibrate.activation_ranges``); ``scales``: one weight scale a
    layer, or one a channel for the hidden layers."""
    if scales not in SCALES:
        raise PrunelabError(f"weight scales are {' or '.join(SCALES)}, not {scales!r}")
    run = cplan.plan(graph)
    mean, std = (run.normalize.mean, run.normalize.std) if run.normalize else (0.0, 1.0)
    in_scale, in_offset = 1.0 / (255.0 * std), -mean / std  # normalised x = p * in_scale + in_offset
    source_range, source_scale = UINT8, in_scale
    stages = []
    for n, stage in enumerate(run.stages):
        for op in stage.before_pool + stage.after_pool:
            if op.kind != "relu":
                raise PrunelabError(f"the integer engine runs ReLU or no activation; {stage.layer.name} uses {op.kind}")
        last = n == len(run.stages) - 1
        weight, w_scale = _int8_weights(stage.layer, per_channel=scales == "channel" and not last)
        acc_scale = source_scale * w_scale  # (O,)
        bias = stage.layer.bias.astype(np.float64)
        pad_value = 0
        if n == 0:  # fold the normalisation: sum w (p a + c) = a sum w p + c sum w
            bias = bias + in_offset * w_scale * weight.reshape(len(bias), -1).sum(1)
            pad_value = int(np.clip(round(-in_offset / in_scale), *UINT8)) if run.normalize else 0
        bias_q = np.round(bias / acc_scale).astype(np.int64)
        bound = _bound(weight, bias_q, source_range)
        if bound >= ACC_LIMIT:
            raise PrunelabError(f"layer {stage.layer.name}: int32 accumulators could reach {bound:,}; "
                                f"the integer engine needs them below {ACC_LIMIT:,}")
        if last:
            stages.append(IntStage(stage, weight, bias_q, source_range, None, pad_value=pad_value, bound=bound))
            break
        relu = any(op.kind == "relu" for op in stage.before_pool + stage.after_pool)
        target_range = UINT8 if relu else INT8
        limit = ranges.get(stage.layer.name)
        if not isinstance(limit, (int, float)) or not limit >= 0 or not np.isfinite(limit):
            raise PrunelabError(f"no calibrated range for layer {stage.layer.name}: calibrate the file first")
        out_scale = (float(limit) or 1.0) / target_range[1]  # 0: the stage outputs 0 on every image
        window = prod(stage.pool.size) if stage.pool is not None and stage.pool.kind == "avg" else 1
        if scales == "channel":
            row_bounds = _row_bounds(weight, bias_q, source_range)
            rows = [_requantizer(acc_scale[o] / (out_scale * window), int(row_bounds[o]) * window, stage.layer.name)
                    for o in range(len(bias_q))]
            multiplier, shift = (np.array(column, np.int64) for column in zip(*rows))
        else:
            multiplier, shift = _requantizer(acc_scale[0] / (out_scale * window), bound * window, stage.layer.name)
        stages.append(IntStage(stage, weight, bias_q, source_range, target_range, multiplier, shift, pad_value,
                               bound * window))
        source_range, source_scale = target_range, out_scale
    return IntPlan(run, stages, in_scale)


def _int8_weights(layer, per_channel: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Codes in -127..127 and the scale of each output channel (all the layer's one, unless
    ``per_channel``); a layer or channel of zeros gets scale 1."""
    rows = np.abs(layer.weight.reshape(layer.weight.shape[0], -1)).max(1).astype(np.float64)
    largest = rows if per_channel else np.full_like(rows, rows.max())
    scale = np.where(largest > 0, largest / 127.0, 1.0)
    codes = np.round(layer.weight.astype(np.float64) / scale.reshape(-1, *[1] * (layer.weight.ndim - 1)))
    return codes.astype(np.int64), scale


def _row_bounds(weight: np.ndarray, bias: np.ndarray, value_range: tuple[int, int]) -> np.ndarray:
    """Per unit, the largest |partial sum| it can reach, in any order of its terms, for any input with
    values in ``value_range``: |bias| + sum |w| max(|lo|, |hi|)."""
    largest = max(abs(value_range[0]), abs(value_range[1]))
    rows = np.abs(weight.reshape(weight.shape[0], -1))
    return np.abs(bias) + rows.sum(1) * largest


def _bound(weight: np.ndarray, bias: np.ndarray, value_range: tuple[int, int]) -> int:
    """The largest of ``_row_bounds``: what any unit of the layer can reach."""
    return int(_row_bounds(weight, bias, value_range).max())


def _requantizer(ratio: float, bound: int, name: str) -> tuple[int, int]:
    """(M, shift), shift in 1..31, with M / 2^shift nearest to ``ratio`` and bound * M below 2^30."""
    largest = ACC_LIMIT // max(bound, 1)
    for shift in range(31, 0, -1):
        multiplier = int(round(ratio * 2.0**shift))
        if 1 <= multiplier <= largest:
            return multiplier, shift
    raise PrunelabError(f"layer {name}: no integer multiplier fits its scale ratio {ratio:.3g} in 32 bits")


def requantize(acc: np.ndarray, stage: IntStage) -> np.ndarray:
    """``clamp((acc * M + 2^(shift-1)) >> shift)``, in int64 (the bound keeps it in int32's range);
    ``acc``: (N, O, ...), M and the shift per channel O where the stage has them."""
    multiplier, shift = np.asarray(stage.multiplier, np.int64), np.asarray(stage.shift, np.int64)
    if stage.per_channel:
        multiplier, shift = (v.reshape(1, -1, *[1] * (acc.ndim - 2)) for v in (multiplier, shift))
    value = (acc.astype(np.int64) * multiplier + np.left_shift(1, shift - 1)) >> shift
    return np.clip(value, *stage.target_range)


def ram_bytes(plan: IntPlan) -> dict:
    """Static RAM of the integer engine, by buffer: two 8-bit activation buffers used alternately
    (stage n reads one and writes the other; buffer B also holds a padded copy of the input when
    the first convolution pads, else the first layer reads the caller's pixels in place). The last
    layer writes its int32 scores where the caller says (classify: on its stack)."""
    sides = [0, 0]
    for n, stage in enumerate(plan.stages[:-1]):
        sides[n % 2] = max(sides[n % 2], stage.stage.target.size)
    if plan.first_pad:
        sides[1] = max(sides[1], plan.stages[0].stage.source.size)
    return {"buf_a": sides[0], "buf_b": sides[1]}
