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


def int_chain(seed=0, **kwargs):
    """A sparse ConvChain's compact graph, its int plan calibrated on random images, and those images."""
    torch.manual_seed(seed)
    model = sparsify(ConvChain(**kwargs), seed, density=0.4)
    graph = compact(g.trace(model, (1, 12, 12))).graph
    images = np.random.default_rng(seed).integers(0, 256, (200, 1, 12, 12), dtype=np.uint8)
    return graph, intplan.int_plan(graph, calibrate.activation_ranges(graph, images)), images


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
    stage = int_chain(seed=5)[1].stages[-1]
    chosen, pairs, groups = (int_table(stage, layout) for layout in ("smaller", "pairs", "groups"))
    assert chosen["bytes"] == min(pairs["bytes"], groups["bytes"])
    weights = int(np.count_nonzero(stage.weight))
    assert len(pairs["arrays"]["weight"][1]) == len(groups["arrays"]["gap"][1]) == weights
    distinct = sum(len(np.unique(row[row != 0])) for row in stage.weight.reshape(len(stage.weight), -1))
    assert len(groups["arrays"]["value"][1]) == distinct  # one multiply per distinct value of a row


def test_source_has_no_float_no_division_and_no_heap():
    _, plan, _ = int_chain(padding=1)
    header, source = cint.generate(plan, "net")
    code = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    assert not re.search(r"\b(float|double|malloc|printf)\b|[^/]/[^/*]", code)
    assert re.findall(r"#include <(\w+)\.h>", source) == ["stdint"]
    assert "int net_classify(const uint8_t pixels[144]);" in header


@needs_cc
@pytest.mark.parametrize("kwargs", [{}, {"padding": 1}, {"caffe": True}, {"channels": (1, 2), "hidden": 3}])
@pytest.mark.parametrize("seed, layout", [(0, "smaller"), (1, "pairs"), (2, "groups")])
def test_c_equals_the_reference_bit_for_bit_on_any_input(kwargs, seed, layout, tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNELAB_CACHE_DIR", str(tmp_path))
    _, plan, images = int_chain(seed=seed, **kwargs)
    extremes = np.stack([np.zeros((1, 12, 12)), np.full((1, 12, 12), 255), np.indices((12, 12)).sum(0)[None] % 2 * 255])
    pixels = np.concatenate([images[:60], extremes.astype(np.uint8)])
    expected = intref.scores(plan, pixels)
    assert np.abs(expected.astype(np.int64)).max() <= plan.stages[-1].bound  # worst cases stay within the bound
    assert np.array_equal(IntEngine(plan, layout=layout).scores(pixels), expected)


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no arm-none-eabi-gcc")
def test_a_cortex_m0_object_needs_no_helper_from_libgcc(tmp_path):
    """No floating point, no division, no 64-bit multiply: `nm -u` of the object lists no helper."""
    _, plan, _ = int_chain(padding=1, caffe=True)
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
