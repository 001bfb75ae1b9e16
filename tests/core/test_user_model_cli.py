"""A model the user defines (`--model module:factory`) on the user's own `.npz` goes through
`prunelab run` to the compressed file, and through `export --format c` and `evaluate`."""

import csv
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


def bn_cnn(classes=4):
    return nn.Sequential(nn.Conv2d(3, 6, 3, bias=False), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(6 * 5 * 5, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, classes))


def with_sigmoid(classes=4):
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 12 * 12, 16), nn.Sigmoid(), nn.Linear(16, classes))


class Backwards(nn.Module):
    """Registers its classifier before the convolution it reads: a file stores layers in one order."""

    def __init__(self, classes=4):
        super().__init__()
        self.fc = nn.Linear(6 * 10 * 10, classes)
        self.conv = nn.Conv2d(3, 6, 3)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


def backwards(classes=4):
    return Backwards(classes)


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


def short_run(project: Path, capsys, model: str, rounds: int) -> tuple[Path, str]:
    """`prunelab run` of ``model`` on images.npz, one epoch a stage: (the run directory, stdout)."""
    args = ["run", "--model", model, "--dataset", "npz:images.npz", "--epochs", "1", "--retrain-epochs", "1",
            "--rounds", str(rounds), "--set", "quantize.epochs=1", "--set", "train.batch_size=32",
            "--runs-dir", str(project / "runs")]
    assert main(args) == 0
    out = capsys.readouterr().out
    return Path(out.split("run: ")[1].splitlines()[0]), out


def test_a_user_model_on_an_npz_runs_every_stage_and_exports_c(user_project, capsys):
    run, out = short_run(user_project, capsys, "user_nets:small_cnn", rounds=2)
    assert run.name.startswith("user_nets_small_cnn-")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["pruned"]["sparsity"] == pytest.approx(0.9, abs=1e-3)
    assert f"compressed file: {run / 'quantized' / 'model.plc'}" in out
    compressed = CompressedModel.read(run / "quantized" / "model.plc")
    assert compressed.model == "user_nets:small_cnn" and compressed.metadata["input_shape"] == [3, 12, 12]
    # the file names user code, which a file never imports: it carries its own operations instead,
    # which give ONNX and C without the user's class; --model decodes it into the user's module
    assert [op["op"] for op in compressed.metadata["graph"]] == ["conv", "relu", "pool", "flatten", "dense", "relu",
                                                                 "dense"]
    assert main(["export", str(run / "quantized" / "model.plc"), "--format", "c", "--output", "own"]) == 0
    assert "from the file's own operations" in capsys.readouterr().err
    assert main(["export", str(run / "quantized" / "model.plc"), "--model", "user_nets:small_cnn",
                 "--format", "c", "--output", "c"]) == 0
    assert "input [3, 12, 12]" in (user_project / "c" / "user_nets_small_cnn.h").read_text()
    assert (user_project / "own" / "user_nets_small_cnn.c").read_text().count("static const") == \
        (user_project / "c" / "user_nets_small_cnn.c").read_text().count("static const")
    assert main(["decompress", str(run / "quantized" / "model.plc"), "--output", "m.pt"]) == 2
    assert "which is not built in" in capsys.readouterr().err  # a state_dict needs the user's module
    capsys.readouterr()
    assert main(["evaluate", str(run / "quantized" / "model.plc"), "--dataset", "npz:images.npz", "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{"):])["test_accuracy"] == summary["compressed"]["test_accuracy"]
    assert main(["export", str(run), "--format", "onnx", "--output", "m.onnx"]) == 0  # the run's input shape
    assert main(["evaluate", str(run / "quantized" / "model.plc"), "--model", "user_nets:small_cnn", "--json"]) == 0
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


def test_a_batchnorm_model_trains_with_it_and_its_file_and_c_hold_it_folded(user_project, capsys):
    """issue 21: `features.1: BatchNorm2d is not supported`. BatchNorm trains as it is; the quantize
    stage folds it, and the file, its decoded model and the C engine agree on every test example."""
    run, _ = short_run(user_project, capsys, "user_nets:bn_cnn", rounds=1)
    summary = json.loads((run / "summary.json").read_text())
    assert "1.weight" in torch.load(run / "pruned" / "model.pt")  # the pruned stage keeps its BatchNorm
    compressed = CompressedModel.read(run / "quantized" / "model.plc")
    assert [layer.name for layer in compressed.layers] == ["0", "5", "8"]  # folded: no BatchNorm layer
    from prunelab.deploy.engine import compiler

    for engine in ("torch", "c") if compiler() else ("torch",):
        capsys.readouterr()
        assert main(["evaluate", str(run), "--engine", engine, "--json"]) == 0
        out = capsys.readouterr().out
        assert json.loads(out[out.index("{"):])["test_accuracy"] == summary["compressed"]["test_accuracy"]


@pytest.mark.parametrize("spec, message", [
    ("user_nets:nothing", "user_nets has no attribute 'nothing'"),
    ("no_such_module:f", "cannot import no_such_module"),
    ("user_nets:", "--model needs MODULE:FACTORY"),
])
def test_a_bad_factory_is_one_line(user_project, capsys, spec, message):
    assert main(["train", "--model", spec, "--dataset", "npz:images.npz", "--runs-dir", "runs"]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("prunelab: error:")]
    assert len(errors) == 1 and message in errors[0]


def test_a_bad_npz_is_one_line(user_project, capsys):
    np.savez(user_project / "bad.npz", x_train=np.zeros((4, 8, 8), np.uint8), y_train=np.zeros(4, np.int64))
    assert main(["train", "--model", "user_nets:small_cnn", "--dataset", "npz:bad.npz", "--runs-dir", "runs"]) == 2
    assert "bad.npz lacks x_test, y_test" in capsys.readouterr().err


@pytest.mark.parametrize("data, message", [
    ({"x": (np.zeros((8, 3, 12, 12), np.uint8)), "y": np.arange(8) % 6}, "gives (4,) scores an example, but npz:wide.npz's labels run to 5"),
    ({"x": (np.zeros((8, 1, 12, 12), np.uint8)), "y": np.arange(8) % 4}, "does not take npz:wide.npz's examples of shape (1, 12, 12)"),
])
def test_a_model_that_does_not_fit_the_data_is_one_line_before_training(user_project, capsys, data, message):
    """issue 23: IndexError or RuntimeError in the middle of the first epoch."""
    np.savez(user_project / "wide.npz", x_train=data["x"], y_train=data["y"], x_test=data["x"], y_test=data["y"])
    assert main(["train", "--model", "user_nets:small_cnn", "--dataset", "npz:wide.npz", "--runs-dir", "runs"]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("prunelab: error:")]
    assert len(errors) == 1 and message in errors[0]
    assert not list((user_project / "runs").rglob("metrics.jsonl"))  # nothing trained


def test_a_model_the_file_cannot_store_is_refused_before_training(user_project, capsys):
    """issue 21: `run` trained every stage before the quantize stage found the model unwritable.
    `train` (the dense stage only) writes no file and may still train it."""
    assert main(["run", "--model", "user_nets:with_sigmoid", "--dataset", "npz:images.npz", "--runs-dir", "runs"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("prunelab: error:")]
    assert len(errors) == 1 and "cannot be written to a compressed file" in errors[0] and "Sigmoid" in errors[0]
    assert not list((user_project / "runs").rglob("metrics.jsonl"))  # nothing trained
    assert main(["run", "--model", "user_nets:backwards", "--dataset", "npz:images.npz", "--runs-dir", "runs"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("prunelab: error:")]
    assert len(errors) == 1 and "computes its layers in another order (conv, fc) than it registers them (fc, conv)" \
        in errors[0]
    assert not list((user_project / "runs").rglob("metrics.jsonl"))


SWEEP = '''
stop = "all"
[base]
model = "user_nets:small_cnn"
data.dataset = "npz:images.npz"
train.epochs = 1
train.batch_size = 32
prune.epochs = 1
prune.schedule = "oneshot"
quantize.epochs = 1
[grid]
"prune.sparsity" = [0.5, 0.8]
"prune.backend" = ["prunelab", "torch"]
'''


def test_a_user_model_goes_through_sweep_and_report_like_a_built_in_one(user_project, capsys):
    """Four runs (two sparsities, both backends) sharing one dense model, then the report: every
    figure that has data is drawn, the memory table counts the user's model at its 3x12x12 input."""
    (user_project / "sweep.toml").write_text(SWEEP)
    assert main(["sweep", "sweep.toml", "--runs-dir", "runs", "--jobs", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "4 of 4 runs finished" in out and "4 runs share 1 dense model (1 trained now" in out
    rows = list(csv.DictReader(open(user_project / "runs" / "sweeps" / "sweep" / "runs.csv")))
    assert len(rows) == 4 and all(row["status"] == "finished" and row["model"] == "user_nets:small_cnn" for row in rows)
    assert {float(row["pruned_density_0"]) for row in rows} == {81 / 162, 32 / 162}  # the conv's 162 weights
    assert main(["report", "runs/sweeps/sweep", "--output", "report"]) == 0
    report = json.loads((user_project / "report" / "report.json").read_text())
    assert {"fig4-loss-per-sparsity.png", "backends-side-by-side.png", "size-vs-error.png", "masks.png",
            "weight-histograms.png"} <= set(report["figures"])
    text = (user_project / "report" / "report.md").read_text()
    assert "user_nets:small_cnn on npz:images.npz" in text
    assert "Memory while training user_nets:small_cnn (bytes" in text and "| torch |" in text


def test_bench_and_evaluate_of_an_onnx_take_the_models_input_shape(user_project, mnist, capsys):
    args = ["prune", "--model", "user_nets:small_cnn", "--dataset", "npz:images.npz", "--epochs", "1",
            "--retrain-epochs", "1", "--set", "train.batch_size=32", "--runs-dir", "runs"]
    assert main(args) == 0
    run = Path(capsys.readouterr().out.split("run: ")[1].splitlines()[0])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["input_shape"] == [3, 12, 12]
    assert main(["bench", str(run), "--batch-sizes", "1,8", "--repeats", "3", "--conv", "sparse",
                 "--engines", "onnxruntime,onnxruntime-compact", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["settings"]["input_shape"] == [3, 12, 12]
    assert result["macs_dense"] == 6 * 3 * 3 * 3 * 10 * 10 + 150 * 16 + 16 * 4  # conv at 10x10 outputs, two Linears
    assert all(cell["same_predictions"] for row in result["batches"] for cell in row["engines"].values())
    assert main(["export", str(run), "--format", "onnx", "--output", "m.onnx"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "m.onnx", "--dataset", "npz:images.npz", "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{"):])["test_accuracy"] == summary["pruned"]["test_accuracy"]
    assert main(["evaluate", str(run), "--engine", "c", "--json"]) == 0  # the C engine, at the run's input shape
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{"):])["test_accuracy"] == summary["pruned"]["test_accuracy"]
    assert main(["evaluate", "m.onnx", "--json"]) == 2  # MNIST's 1x28x28 images do not fit
    err = capsys.readouterr().err
    assert "m.onnx takes inputs of shape (3, 12, 12); the examples of mnist are (1, 28, 28)" in err
    assert len(err.strip().splitlines()) == 1


def test_a_users_npz_names_its_stages_by_content_not_path(user_project):
    from prunelab.runs.config import RunConfig
    from prunelab.runs.pipeline import stage_dir

    def dense(dataset):
        config = RunConfig(model="user_nets:small_cnn")
        config.data.dataset = dataset
        return stage_dir(config, user_project / "runs", "dense")

    (user_project / "copy").mkdir()
    (user_project / "copy" / "images.npz").write_bytes((user_project / "images.npz").read_bytes())
    first = dense("npz:images.npz")
    assert dense("npz:copy/images.npz") == first  # the same bytes elsewhere: the same stage
    with np.load(user_project / "images.npz") as archive:
        arrays = dict(archive)
    arrays["y_train"] = (arrays["y_train"] + 1) % 4
    np.savez(user_project / "copy" / "images.npz", **arrays)
    assert dense("npz:copy/images.npz") != first  # other labels at that path: another stage
