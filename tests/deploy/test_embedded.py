"""The C export on an emulated Cortex-M4F (benchmarks/embedded): the board predicts what the host does.

Builds a small sparse chain's C export with arm-none-eabi-gcc for QEMU's mps2-an386, runs it on a
few images and compares every class with the host C engine; skipped without the Arm toolchain.
"""

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from prunelab.deploy import graph as g
from prunelab.deploy.cgen import generate
from prunelab.deploy.compact import compact
from prunelab.deploy.engine import Engine, compiler
from deploy_helpers import ConvChain, sparsify

RUN = Path(__file__).resolve().parents[2] / "benchmarks" / "embedded" / "run.py"
_spec = importlib.util.spec_from_file_location("embedded_run", RUN)
embedded = importlib.util.module_from_spec(_spec)
sys.modules["embedded_run"] = embedded  # dataclasses look their module up there
_spec.loader.exec_module(embedded)

pytestmark = [
    pytest.mark.skipif(bool(embedded.missing_tools()),
                       reason=f"no {' or '.join(embedded.missing_tools())} on this machine "
                              "(apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)"),
    pytest.mark.skipif(compiler() is None, reason="no host C compiler for the reference engine"),
]


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(144, 20), nn.ReLU(), nn.Linear(20, 4))

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize("model", [ConvChain(), Mlp()], ids=["conv", "linear"])
def test_board_classifies_as_the_host_engine(model, tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNELAB_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(3)
    graph = compact(g.trace(sparsify(model, seed=3, density=0.5), (1, 12, 12))).graph
    header, source = generate(graph, "net", weights="codebook", batch=1)
    (tmp_path / "net.h").write_text(header)
    (tmp_path / "net.c").write_text(source)
    images = np.random.default_rng(0).integers(0, 256, (6, 144), dtype=np.uint8)

    elf, model_obj = embedded.firmware({"net": tmp_path / "net.c"}, "net_classify", tmp_path / "O2", "O2",
                                       inputs=144)
    board = embedded.run_board(elf, images, tmp_path / "O2", timeout=60)

    host = Engine(graph, weights="codebook", batch=1)
    assert board["classes"].tolist() == [host.classify(image) for image in images]
    assert board["instructions_per_tick"] == 40  # 1 ns an instruction, SysTick at 25 MHz
    assert board["instructions"].min() > 100 and 0 < board["stack_bytes"] < 512
    text, data, bss = embedded.size(model_obj)
    buffers = int(re.search(r"NET_BUFFER_BYTES (\d+)", header).group(1))
    weights = int(re.search(r"NET_WEIGHT_BYTES (\d+)", header).group(1))
    assert data + bss == buffers  # no RAM but the buffers the header states
    assert text > weights  # the tables are in flash, beside the code


def test_the_integer_engine_on_a_cortex_m0_classifies_as_the_host(tmp_path, monkeypatch):
    """The int8 export on QEMU's micro:bit (ARMv6-M, no FPU): the board's classes are the host
    build's, the object calls no libgcc routine, and its RAM is the buffers the header states."""
    from prunelab.deploy import calibrate, cint, intplan
    from prunelab.deploy.engine import IntEngine

    monkeypatch.setenv("PRUNELAB_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(3)
    graph = compact(g.trace(sparsify(ConvChain(), seed=3, density=0.5), (1, 12, 12))).graph
    images = np.random.default_rng(0).integers(0, 256, (6, 144), dtype=np.uint8)
    plan = intplan.int_plan(graph, calibrate.activation_ranges(graph, images.reshape(-1, 1, 12, 12)))
    header, source = cint.generate(plan, "net")
    (tmp_path / "net.h").write_text(header)
    (tmp_path / "net.c").write_text(source)
    board = embedded.BOARDS["m0"]
    elf, model_obj = embedded.firmware({"net": tmp_path / "net.c"}, "net_classify", tmp_path / "m0", "Os",
                                       inputs=144, board=board)
    result = embedded.run_board(elf, images, tmp_path / "m0", timeout=60, board=board)
    assert result["classes"].tolist() == IntEngine(plan).scores(images).argmax(1).tolist()
    assert result["instructions_per_tick"] == 62.5  # the micro:bit's 16 MHz clock, 1 ns an instruction
    assert embedded.helpers(model_obj, elf) == []
    text, data, bss = embedded.size(model_obj)
    assert data + bss == int(re.search(r"NET_RAM_BYTES (\d+)", header).group(1))
