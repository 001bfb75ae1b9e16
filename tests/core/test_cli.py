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
