"""The integer engine: its plan's arithmetic by hand, the generated C against the Python reference
bit for bit (random sparse chains, worst-case inputs), and no float anywhere on its path."""

import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from torch import nn

from prunelab.deploy import calibrate, cint, intplan, intref
from prunelab.deploy import graph as g
from prunelab.deploy.compact import compact
from prunelab.deploy.engine import IntEngine, compiler
from prunelab.deploy.inttables import int_table
from prunelab.errors import PrunelabError
from deploy_helpers import ConvChain, sparsify

needs_cc = pytest.mark.skipif(compiler() is None, reason="no C compiler on this machine (set CC or install gcc)")


def int_chain(seed=0, scales="layer", **kwargs):
    """A sparse ConvChain's compact graph, its int plan calibrated on random images, and those images."""
    torch.manual_seed(seed)
    model = sparsify(ConvChain(**kwargs), seed, density=0.4)
    graph = compact(g.trace(model, (1, 12, 12))).graph
    images = np.random.default_rng(seed).integers(0, 256, (200, 1, 12, 12), dtype=np.uint8)
    return graph, intplan.int_plan(graph, calibrate.activation_ranges(graph, images), scales), images


def test_requantizer_is_the_nearest_multiplier_that_keeps_the_product_in_range():
    multiplier, shift = intplan._requantizer(0.001234, 1000, "x")
    assert 1000 * multiplier < intplan.ACC_LIMIT <= 1000 * (2 * multiplier)  # the widest that fits
    assert abs(multiplier / 2**shift - 0.001234) <= 2.0 ** -(shift + 1)
    stage = intplan.IntStage(None, None, None, (0, 255), (0, 255), multiplier=3, shift=2)
    # (acc * 3 + 2) >> 2: rounds half up, floors below zero, then clamps to uint8
    assert intplan.requantize(np.array([1, 2, -3, 1000, -1]), stage).tolist() == [1, 2, 0, 255, 0]


def test_the_bound_covers_every_partial_sum_of_any_unit():
    weight = np.array([[3, -2, 0], [-1, -1, -1]])
    assert intplan._bound(weight, np.array([10, 0]), (0, 255)) == 10 + 5 * 255
    assert intplan._bound(weight, np.array([0, -900]), (-127, 127)) == 900 + 3 * 127


def test_normalisation_is_folded_into_the_first_bias_and_padding_reads_a_normalised_zero():
    graph, plan, images = int_chain(padding=1)
    first = plan.stages[0]
    assert first.pad_value == round(255 * 0.1307)  # MNIST's mean in pixel units
    assert plan.input_scale == pytest.approx(1 / (255 * 0.3081))
    with pytest.raises(PrunelabError, match="no calibrated range for layer"):
        intplan.int_plan(graph, {})


def test_tanh_is_refused_by_name():
    torch.manual_seed(0)
    graph = compact(g.trace(sparsify(ConvChain(activation=nn.Tanh), 0), (1, 12, 12))).graph
    with pytest.raises(PrunelabError, match="ReLU or no activation; .* uses tanh"):
        intplan.int_plan(graph, {op.name: 1.0 for op in graph.layers()})


def test_the_reference_tracks_the_float_model():
    """Scaled back by the last layer's accumulator scale, the int32 scores are the float scores
    up to the 8-bit rounding of weights and activations."""
    from prunelab.deploy.module import to_module

    graph, plan, images = int_chain(seed=3)
    with torch.no_grad():
        expected = to_module(graph)(torch.from_numpy(images.astype(np.float32) / 255)).numpy()
    got = intref.scores(plan, images).astype(np.float64)
    scale = (got * expected).sum() / (got * got).sum()  # least squares; the plan's own scale is internal
    assert np.abs(got * scale - expected).max() <= 0.05 * np.abs(expected).max()


def test_layers_get_the_smaller_layout_and_groups_share_one_multiply():
    plan = int_chain(seed=5)[1]
    conv, stage = plan.stages[0], plan.stages[-1]
    chosen, pairs, groups, packed = (int_table(stage, layout) for layout in ("smaller", "pairs", "groups", "packed"))
    assert chosen["bytes"] == min(pairs["bytes"], groups["bytes"], packed["bytes"])
    assert int_table(conv)["kind"] != "packed"  # a convolution reads its table once per position
    assert chosen["arrays"]["bias"][0] == ("int16_t" if np.abs(stage.bias).max() <= 32767 else "int32_t")
    weights = int(np.count_nonzero(stage.weight))
    assert len(pairs["arrays"]["pair"][1]) == 2 * len(groups["arrays"]["gap"][1]) == 2 * weights
    distinct = sum(len(np.unique(row[row != 0])) for row in stage.weight.reshape(len(stage.weight), -1))
    assert len(groups["arrays"]["value"][1]) == distinct  # one multiply per distinct value of a row


def _unpacked(table) -> list[tuple[list, list]]:
    """A packed table read back entry by entry, as the C reads it: (offsets, values) of each row
    with the fillers (code 0) left out."""
    gap_bits, code_bits = table["bits"]["gap"], table["bits"]["code"]
    stream = int.from_bytes(bytes(table["arrays"]["stream"][1]), "little")
    starts, book = table["arrays"]["start"][1], table["arrays"]["book"][1]
    out = []
    for first, end in zip(starts, starts[1:]):
        offset, offsets, values = 0, [], []
        for k in range(first, end):
            entry = stream >> (k * (gap_bits + code_bits)) & ((1 << (gap_bits + code_bits)) - 1)
            offset += entry & ((1 << gap_bits) - 1)
            if entry >> gap_bits:
                offsets.append(offset)
                values.append(book[entry >> gap_bits])
        out.append((offsets, values))
    return out


def test_packed_and_pair_tables_decode_to_the_rows_with_fillers_for_wide_gaps():
    from prunelab.deploy import inttables

    unit_rows = [(np.array([0, 3, 700, 701]), np.array([5, -7, 5, 1])), (np.array([], np.int64), np.array([], np.int64)),
                 (np.array([2, 40]), np.array([-7, 9]))]
    packed = inttables._packed(unit_rows)
    assert _unpacked(packed) == [(r[0].tolist(), r[1].tolist()) for r in unit_rows]
    width = packed["bits"]["gap"] + packed["bits"]["code"]
    assert packed["bits"]["code"] == 3 and width <= inttables.MAX_ENTRY_BITS  # 4 values and the filler's 0
    assert len(packed["arrays"]["stream"][1]) == (packed["arrays"]["start"][1][-1] * width + 7) // 8 + 2
    gaps, book = [np.diff(offsets, prepend=0) for offsets, _ in unit_rows], [0, -7, 1, 5, 9]
    codes = [np.searchsorted(book[1:], values) + 1 for _, values in unit_rows]
    for gap_bits in range(1, 14):  # the width is chosen by arithmetic: it must be what packing takes
        assert inttables._packed_bytes(gaps, gap_bits, 3) == inttables._pack(gaps, codes, book, gap_bits, 3)["bytes"]
    wide = [(np.arange(0, 40_000 * 200, 200), np.ones(40_000, np.int64))]  # narrow gaps: past 65,535 entries
    assert inttables._pack([np.diff(wide[0][0], prepend=0)], [np.ones(40_000, np.int64)], [0, 1], 1, 1) is None
    assert inttables._packed(wide)["bits"]["gap"] == 8  # the widths that fit are still chosen from
    pairs = inttables._pairs(unit_rows)  # the gap of 697 as two fillers of 255 and a gap of 187
    kind, values = pairs["arrays"]["pair"]
    assert kind == "int8_t" and pairs["arrays"]["start"][1] == [0, 6, 6, 8]
    assert [v % 256 for v in values[0::2]] == [0, 3, 255, 255, 187, 1, 2, 38]  # gaps: the int8's bits as a byte
    assert values[1::2] == [5, -7, 0, 0, 5, 1, -7, 9]


def test_source_has_no_float_no_division_and_no_heap():
    _, plan, _ = int_chain(padding=1)
    header, source = cint.generate(plan, "net")
    code = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    assert not re.search(r"\b(float|double|malloc|printf)\b|[^/]/[^/*]", code)
    assert re.findall(r"#include <(\w+)\.h>", source) == ["stdint"]
    assert "int net_classify(const uint8_t pixels[144]);" in header


@needs_cc
@pytest.mark.parametrize("kwargs", [{}, {"padding": 1}, {"caffe": True}, {"channels": (1, 2), "hidden": 3}])
@pytest.mark.parametrize("seed, layout", [(0, "smaller"), (1, "pairs"), (2, "groups"), (3, "packed")])
def test_c_equals_the_reference_bit_for_bit_on_any_input(kwargs, seed, layout, tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNELAB_CACHE_DIR", str(tmp_path))
    _, plan, images = int_chain(seed=seed, **kwargs)
    extremes = np.stack([np.zeros((1, 12, 12)), np.full((1, 12, 12), 255), np.indices((12, 12)).sum(0)[None] % 2 * 255])
    pixels = np.concatenate([images[:60], extremes.astype(np.uint8)])
    expected = intref.scores(plan, pixels)
    assert np.abs(expected.astype(np.int64)).max() <= plan.stages[-1].bound  # worst cases stay within the bound
    assert np.array_equal(IntEngine(plan, layout=layout).scores(pixels), expected)


@needs_cc
@pytest.mark.parametrize("kwargs, layout", [({}, "pairs"), ({"padding": 1}, "groups"), ({"caffe": True}, "packed"),
                                            ({"caffe": True}, "smaller")])
def test_per_channel_scales_give_c_equal_to_the_reference_bit_for_bit(kwargs, layout, tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNELAB_CACHE_DIR", str(tmp_path))
    _, plan, images = int_chain(seed=5, scales="channel", **kwargs)
    assert all(stage.per_channel for stage in plan.stages[:-1]) and not plan.stages[-1].per_channel
    extremes = np.stack([np.zeros((1, 12, 12)), np.full((1, 12, 12), 255)]).astype(np.uint8)
    pixels = np.concatenate([images[:60], extremes])
    assert np.array_equal(IntEngine(plan, layout=layout).scores(pixels), intref.scores(plan, pixels))


def test_per_channel_scales_keep_the_resolution_of_a_channel_far_smaller_than_its_layer():
    """Channels whose weights differ 100-fold (as a folded BatchNorm leaves them): one scale a layer
    rounds the small channel to a level or two, one scale a channel keeps each within half a step
    of its own largest weight / 127."""
    rng = np.random.default_rng(7)
    weight = rng.normal(0, 1, (3, 2, 3, 3)).astype(np.float32)
    weight[1] /= 100
    layer = g.Conv("c", weight, np.zeros(3, np.float32))
    for per_channel in (False, True):
        codes, scale = intplan._int8_weights(layer, per_channel)
        assert codes.min() >= -127 and codes.max() <= 127 and scale.shape == (3,)
        error = np.abs(codes * scale[:, None, None, None] - weight).reshape(3, -1).max(1)
        relative = error / np.abs(weight).reshape(3, -1).max(1)
        if per_channel:
            assert (relative <= 0.5 / 127 + 1e-9).all()
        else:
            assert (scale == scale[0]).all() and relative[1] > 0.1  # the small channel: a few levels


def test_channel_scales_are_refused_by_name_when_unknown():
    graph, _, images = int_chain(seed=1)
    with pytest.raises(PrunelabError, match="weight scales are layer or channel"):
        intplan.int_plan(graph, calibrate.activation_ranges(graph, images), "row")


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no arm-none-eabi-gcc")
@pytest.mark.parametrize("scales", ["layer", "channel"])
def test_a_cortex_m0_object_needs_no_helper_from_libgcc(tmp_path, scales):
    """No floating point, no division, no 64-bit multiply: `nm -u` of the object lists no helper."""
    _, plan, _ = int_chain(padding=1, caffe=True, scales=scales)
    header, source = cint.generate(plan, "net")
    (tmp_path / "net.h").write_text(header)
    (tmp_path / "net.c").write_text(source)
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft", "-Os", "-std=c99",
                    "-Wall", "-Werror", "-c", "net.c", "-o", "net.o"], cwd=tmp_path, check=True)
    undefined = subprocess.run(["arm-none-eabi-nm", "-u", "net.o"], cwd=tmp_path, capture_output=True, text=True)
    symbols = {line.split()[-1] for line in undefined.stdout.splitlines()}
    assert symbols <= {"memset"}, symbols  # gcc may call memset for the zero border; nothing from libgcc


def test_ranges_are_rounded_up_to_three_digits_and_older_files_still_read():
    from types import SimpleNamespace

    from prunelab.deploy.calibrate import rounded_up, stored_ranges

    assert [rounded_up(v) for v in (12.487619, 0.0012341, 999.01, 0.0)] == [12.5, 0.00124, 1000.0, 0.0]
    layers = [SimpleNamespace(name=n) for n in ("conv1", "fc1", "fc2")]
    new = SimpleNamespace(metadata={"calibration": [12.5, 3.0]}, layers=layers)
    first = SimpleNamespace(metadata={"calibration": {"ranges": {"conv1": 12.49, "fc1": 3.0}, "images": 9}}, layers=layers)
    assert stored_ranges(new) == {"conv1": 12.5, "fc1": 3.0} and stored_ranges(first) == {"conv1": 12.49, "fc1": 3.0}
    with pytest.raises(PrunelabError, match="a range for each of conv1, fc1"):
        stored_ranges(SimpleNamespace(metadata={"calibration": [1.0]}, layers=layers))
