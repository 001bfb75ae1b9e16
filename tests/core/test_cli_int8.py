"""The integer engine from the command line: a run's file carries its calibration, and the C and
the Python reference give the same int32 scores on the test images."""

import json
from pathlib import Path

import pytest

from prunelab.cli.main import main
from prunelab.compression import CompressedModel
from prunelab.deploy.engine import compiler
from .test_pipeline import tiny_config

needs_cc = pytest.mark.skipif(compiler() is None, reason="no C compiler on this machine (set CC or install gcc)")


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    from prunelab import data
    from prunelab.runs import pipeline

    data.fetch("mnist")
    summary = pipeline.execute(tiny_config(), tmp_path_factory.mktemp("runs"), log=lambda m: None)
    return Path(summary["run_dir"]) / "quantized" / "model.plc"


def evaluated(capsys, *args) -> dict:
    capsys.readouterr()
    assert main(["evaluate", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_runs_file_carries_the_ranges_of_its_training_images(run_file):
    from prunelab.deploy.calibrate import stored_ranges

    compressed = CompressedModel.read(run_file)
    entry = compressed.metadata["calibration"]  # one range a layer but the last, 3 significant digits
    assert len(entry) == 4 and all(float(f"{v:.3g}") == v > 0 for v in entry)
    assert list(stored_ranges(compressed)) == ["conv1", "conv2", "fc1", "fc2"]


@needs_cc
def test_c_and_reference_agree_on_every_score_and_track_the_float_model(run_file, capsys, tmp_path):
    c = evaluated(capsys, str(run_file), "--engine", "c", "--arithmetic", "int8")
    reference = evaluated(capsys, str(run_file), "--engine", "reference")
    assert c["scores_sha256"] == reference["scores_sha256"] and c["test_correct"] == reference["test_correct"]
    floating = evaluated(capsys, str(run_file), "--engine", "c")
    assert abs(c["test_accuracy"] - floating["test_accuracy"]) <= 0.01
    assert main(["export", str(run_file.parent.parent), "--format", "c", "--arithmetic", "int8",
                 "--output", str(tmp_path / "c")]) == 0  # a run directory: its quantized file
    source = (tmp_path / "c" / "lenet5.c").read_text()
    assert "float" not in source.split("*/", 1)[1] and "int lenet5_classify(const uint8_t pixels[784])" in source


def test_calibrate_writes_a_calibrated_copy_and_an_uncalibrated_file_is_one_line(run_file, capsys, tmp_path):
    bare = CompressedModel.read(run_file)
    metadata = {k: v for k, v in bare.metadata.items() if k != "calibration"}
    CompressedModel(bare.model, metadata, bare.layers, bare.dense, bare.kept).write(tmp_path / "bare.plc")
    assert main(["export", str(tmp_path / "bare.plc"), "--format", "c", "--arithmetic", "int8",
                 "--output", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "holds no calibration for the integer engine" in err and len(err.strip().splitlines()) == 1
    assert main(["calibrate", str(tmp_path / "bare.plc"), "--images", "50", "--output", str(tmp_path / "cal.plc")]) == 0
    assert "calibrated on 50 training images" in capsys.readouterr().out
    assert len(CompressedModel.read(tmp_path / "cal.plc").metadata["calibration"]) == 4
    assert CompressedModel.read(tmp_path / "cal.plc").layers[0].weight_stream == bare.layers[0].weight_stream


@pytest.mark.parametrize("args, message", [
    (["--engine", "torch", "--arithmetic", "int8"], "--arithmetic goes with --engine c"),
    (["--engine", "reference", "--arithmetic", "float"], "--arithmetic goes with --engine c"),
])
def test_impossible_combinations_are_one_line(run_file, capsys, args, message):
    assert main(["evaluate", str(run_file), *args]) == 2
    assert message in capsys.readouterr().err


def test_a_run_directory_gives_its_compressed_file_unless_a_stage_is_named(run_file, capsys):
    """evaluate and export of a run take its compressed file, not its pruned float model, and say so."""
    run = str(run_file.parent.parent)
    from_file = evaluated(capsys, str(run_file))
    capsys.readouterr()
    assert main(["evaluate", run, "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["test_accuracy"] == from_file["test_accuracy"]
    assert "the quantized model (its compressed file; --stage chooses)" in out.err
    pruned = evaluated(capsys, run, "--stage", "pruned")
    quantized = evaluated(capsys, run, "--stage", "quantized")
    assert quantized["test_accuracy"] == from_file["test_accuracy"]
    assert pruned["test_correct"] != quantized["test_correct"] or pruned["test_loss"] != quantized["test_loss"]
