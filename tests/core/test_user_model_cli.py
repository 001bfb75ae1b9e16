"""A model the user defines (`--model module:factory`) on the user's own `.npz` goes through
`prunelab run` to the compressed file, and through `export --format c` and `evaluate`."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from prunelab.cli.main import main
from prunelab.compression import CompressedModel

USER_MODULE = '''
from torch import nn


def small_cnn(classes=4):
    return nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(6 * 5 * 5, 16), nn.ReLU(), nn.Linear(16, classes))
'''


@pytest.fixture
def user_project(tmp_path, monkeypatch):
    (tmp_path / "user_nets.py").write_text(USER_MODULE)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (160, 3, 12, 12), dtype=np.uint8)
    y = rng.integers(0, 4, 160)
    x[y == 1, 0] //= 4  # something learnable: class 1 is dark in its first channel
    np.savez(tmp_path / "images.npz", x_train=x[:128], y_train=y[:128], x_test=x[128:], y_test=y[128:])
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("user_nets", None)


def test_a_user_model_on_an_npz_runs_every_stage_and_exports_c(user_project, capsys):
    args = ["run", "--model", "user_nets:small_cnn", "--dataset", "npz:images.npz", "--epochs", "1",
            "--retrain-epochs", "1", "--rounds", "2", "--set", "quantize.epochs=1", "--set", "train.batch_size=32",
            "--runs-dir", str(user_project / "runs")]
    assert main(args) == 0
    out = capsys.readouterr().out
    run = Path(out.split("run: ")[1].splitlines()[0])
    assert run.name.startswith("user_nets_small_cnn-")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["pruned"]["sparsity"] == pytest.approx(0.9, abs=1e-3)
    assert f"compressed file: {run / 'quantized' / 'model.plc'}" in out
    compressed = CompressedModel.read(run / "quantized" / "model.plc")
    assert compressed.model == "user_nets:small_cnn" and compressed.metadata["input_shape"] == [3, 12, 12]
    assert main(["export", str(run / "quantized" / "model.plc"), "--format", "c", "--output", "c"]) == 0
    assert "input [3, 12, 12]" in (user_project / "c" / "user_nets_small_cnn.h").read_text()
    capsys.readouterr()
    assert main(["export", str(run), "--format", "onnx", "--output", "m.onnx"]) == 0  # the run's input shape
    assert main(["evaluate", str(run / "quantized" / "model.plc"), "--json"]) == 0
    out = capsys.readouterr().out
    scored = json.loads(out[out.index("{"):])
    assert scored["test_accuracy"] == summary["compressed"]["test_accuracy"]
    # compress RUN keeps the fine-tuned widths and says so when asked for others
    assert main(["compress", str(run), "--conv-bits", "4", "--output", "other.plc"]) == 2
    assert "holds 0 with 8-bit codes, fine-tuned at that width" in capsys.readouterr().err
    assert main(["compress", str(run), "--conv-bits", "8", "--index-bits", "0", "--output", "same.plc"]) == 0
    assert main(["compress", str(run / "pruned" / "model.pt"), "--model", "user_nets:small_cnn", "--conv-bits", "4",
                 "--input-shape", "3,12,12", "--output", "four.plc"]) == 0
    four = CompressedModel.read("four.plc")
    assert four.layer("0").codebook.bits == 4 and four.metadata["input_shape"] == [3, 12, 12]


@pytest.mark.parametrize("spec, message", [
    ("user_nets:nothing", "user_nets has no attribute 'nothing'"),
    ("no_such_module:f", "cannot import no_such_module"),
    ("user_nets:", "--model needs MODULE:FACTORY"),
])
def test_a_bad_factory_is_one_line(user_project, capsys, spec, message):
    assert main(["train", "--model", spec, "--dataset", "npz:images.npz", "--runs-dir", "runs"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_bad_npz_is_one_line(user_project, capsys):
    np.savez(user_project / "bad.npz", x_train=np.zeros((4, 8, 8), np.uint8), y_train=np.zeros(4, np.int64))
    assert main(["train", "--model", "user_nets:small_cnn", "--dataset", "npz:bad.npz", "--runs-dir", "runs"]) == 2
    assert "bad.npz lacks x_test, y_test" in capsys.readouterr().err
