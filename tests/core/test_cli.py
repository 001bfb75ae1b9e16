"""The command line: the main job on a few hundred images, exports, and one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from prunelab.cli.main import main
from prunelab.export import onnx_predict


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "prunelab", *args], capture_output=True, text=True)


@pytest.fixture
def finished_run(tiny, tmp_path, capsys):
    assert main(["prune", *tiny]) == 0
    out = capsys.readouterr().out
    return Path(out.split("run: ")[1].splitlines()[0])


def test_prune_prints_accuracy_and_the_layer_table(finished_run):
    summary = json.loads((finished_run / "summary.json").read_text())
    assert summary["pruned"]["sparsity"] == pytest.approx(0.9, abs=1e-4)


def test_onnx_export_gives_the_same_accuracy_under_onnxruntime(finished_run, mnist, tmp_path, capsys):
    assert main(["export", str(finished_run), "--format", "onnx", "--output", str(tmp_path / "m.onnx")]) == 0
    assert main(["evaluate", str(finished_run), "--json"]) == 0
    ours = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    pixels = (mnist.test_images[:, None].astype(np.float32) / 255.0)
    predictions = onnx_predict(tmp_path / "m.onnx", pixels).argmax(1)
    assert int((predictions == mnist.test_labels).sum()) == ours["test_correct"]


def test_state_dict_export_is_plain_and_evaluates_the_same(finished_run, tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert main(["export", str(finished_run), "--format", "state_dict", "--output", str(out)]) == 0
    state = torch.load(out, weights_only=True)
    assert not any(k.endswith(("_orig", "_mask")) for k in state)
    capsys.readouterr()
    main(["evaluate", str(finished_run), "--json"])
    from_run = json.loads(capsys.readouterr().out)
    main(["evaluate", str(out), "--model", "lenet5", "--json"])
    assert json.loads(capsys.readouterr().out)["test_correct"] == from_run["test_correct"]


@pytest.mark.parametrize("args,message", [
    (["prune", "--model", "lenet6"], "unknown model 'lenet6'"),
    (["prune", "--sparsity", "1.0"], "sparsity must be in [0, 1)"),
    (["prune", "--sparsity", "-0.2"], "sparsity must be in [0, 1)"),
    (["prune", "--dataset", "cifar"], "unknown dataset 'cifar'"),
    (["prune", "--backend", "torch", "--method", "std"], "torch backend supports"),
    (["prune", "--set", "train.lr=fast"], "needs a float"),
    (["evaluate", "no/such/run"], "does not exist"),
    (["export", "no/such/run", "--format", "onnx", "--output", "x.onnx"], "does not exist"),
    (["run", "--config", "missing.toml"], "does not exist"),
])
def test_impossible_arguments_get_one_line_and_exit_2(args, message, tmp_path):
    result = run_cli(*args, "--runs-dir", str(tmp_path)) if args[0] in ("prune", "run") else run_cli(*args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"prunelab: error: {result.stderr.split('error: ')[1].strip()}"]
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_c_engine_gives_the_pytorch_accuracy_and_the_c_export_compiles(finished_run, tmp_path, capsys):
    from prunelab.deploy.engine import compiler

    if compiler() is None:
        pytest.skip("no C compiler on this machine (set CC or install gcc)")
    assert main(["evaluate", str(finished_run), "--json"]) == 0
    torch_result = json.loads(capsys.readouterr().out)
    assert main(["evaluate", str(finished_run), "--engine", "c", "--json"]) == 0
    c_result = json.loads(capsys.readouterr().out)
    assert c_result["test_correct"] == torch_result["test_correct"] and c_result["engine"] == "c"
    out = tmp_path / "c"
    assert main(["export", str(finished_run), "--format", "c", "--output", str(out), "--name", "net"]) == 0
    assert "compact architecture" in capsys.readouterr().out
    (out / "main.c").write_text('#include "net.h"\nint main(void) { static uint8_t p[784]; '
                                'int c = net_classify(p); return c >= 0 && c < 10 ? 0 : 1; }\n')
    built = subprocess.run([compiler(), "-std=c99", "-pedantic", "-Wall", "-Werror", "-o", str(out / "run"),
                            str(out / "net.c"), str(out / "main.c"), "-lm"], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert subprocess.run([str(out / "run")]).returncode == 0


def test_compact_onnx_export_predicts_like_the_model(finished_run, mnist, tmp_path, capsys):
    assert main(["export", str(finished_run), "--format", "onnx", "--compact", "--output", str(tmp_path / "c.onnx")]) == 0
    assert main(["export", str(finished_run), "--format", "onnx", "--output", str(tmp_path / "m.onnx")]) == 0
    pixels = mnist.test_images[:500, None].astype(np.float32) / np.float32(255)
    compact, full = onnx_predict(tmp_path / "c.onnx", pixels), onnx_predict(tmp_path / "m.onnx", pixels)
    assert np.array_equal(compact.argmax(1), full.argmax(1))
    assert (tmp_path / "c.onnx").stat().st_size < (tmp_path / "m.onnx").stat().st_size


def test_an_echoed_input_is_cut_to_one_short_line(capsys):
    plc = Path(__file__).resolve().parents[2] / "results" / "mcu" / "records" / "lenet5-caffe-units.plc"
    assert main(["evaluate", str(plc), "--dataset", "x" * 100_000]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and len(err) < 450 and err.rstrip().endswith("...")
