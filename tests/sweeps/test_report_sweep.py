"""`prunelab report`: report.md and figures from the smoke sweep, from a runs folder, from fake
runs long enough for Fig. 6 and 7; figures without data are left out and listed."""

import json
from pathlib import Path

import pytest
from sweep_helpers import cli, fake_run, one_torch_thread

from prunelab.errors import PrunelabError
from prunelab.reporting.base import spread
from prunelab.runs import pipeline
from prunelab.runs.config import RunConfig, load_toml

PNG = b"\x89PNG\r\n\x1a\n"


def written(folder: Path) -> dict:
    report = json.loads((folder / "report.json").read_text())
    for name in report["figures"]:
        assert (folder / name).read_bytes()[:8] == PNG
    return report


def test_report_from_the_smoke_sweep_draws_what_it_has_and_lists_the_rest(smoke, tmp_path):
    assert cli("report", smoke["out"], "--output", tmp_path / "report") == 0
    report = written(tmp_path / "report")
    assert set(report["figures"]) >= {"fig4-loss-per-sparsity.png", "fig5-correct-after-5-epochs.png",
                                      "time-per-sparsity.png", "backends-side-by-side.png",
                                      "error-vs-compression.png", "layer-density.png", "masks.png"}
    assert set(report["skipped"]) == {"Fig. 6: loss over 20 epochs at high sparsity",
                                      "Fig. 7: 60 epochs, dense (sparsity 0) vs 0.9",
                                      "Weight histograms after quantization",
                                      "Test error vs compressed size, per model"}
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Figures left out" in text and "no runs retrained for 60 or more epochs" in text
    assert "6 finished runs." in text and "invocation(s): 1 runs at a time (" in text
    assert "| torch |" in text and "saved for backward" in text  # memory beside accuracy and time
    for name in report["figures"]:
        assert f"]({name})" in text


def test_a_runs_folder_with_a_quantized_run_gets_the_after_quantization_histograms(smoke, tmp_path):
    config = smoke_config(smoke)
    config.quantize.epochs = 0  # k-means only: a new run that reuses the smoke sweep's pruned stage
    with one_torch_thread():
        pipeline.execute(config, smoke["runs"], log=lambda m: None, stop="all")
    assert cli("report", smoke["runs"], "--output", tmp_path / "report") == 0
    report = written(tmp_path / "report")
    assert "weight-histograms.png" in report["figures"]
    assert "Weight histograms after quantization" not in report["skipped"]
    assert "size-vs-error.png" in report["figures"]  # the one run with a compressed file
    assert "7 finished runs." in (tmp_path / "report" / "report.md").read_text()


def smoke_config(smoke) -> RunConfig:
    """The settings of the smoke sweep's run at sparsity 0.9 with our backend."""
    for run in smoke["runs"].iterdir():
        if (run / "config.toml").exists():
            config = load_toml(run / "config.toml")
            if config.prune.sparsity == 0.9 and config.prune.backend == "prunelab":
                return config
    raise AssertionError("no such run")


def test_fake_60_epoch_runs_give_fig6_fig7_and_the_gap_in_numbers(tmp_path):
    runs = tmp_path / "runs"
    dense = {0: 0.990, 1: 0.992, 2: 0.991}
    for seed, final in dense.items():
        common = {"seed": seed, "prune__method": "course", "prune__epochs": 60}
        fake_run(runs, [final - 0.001] * 59 + [final], prune__sparsity=0.0, **common)
        fake_run(runs, [final - 0.003] * 59 + [final - 0.002 * (seed + 1)], prune__sparsity=0.9, **common)
    assert cli("report", *sorted(runs.iterdir()), "--output", tmp_path / "report") == 0
    report = written(tmp_path / "report")
    assert {"fig6-high-sparsity-20-epochs.png", "fig7-dense-vs-0.9-60-epochs.png"} <= set(report["figures"])
    assert "Learnt masks (white: kept)" in report["skipped"]  # fake runs have no mask files
    gap = spread([0.2, 0.4, 0.6])  # points of accuracy, dense minus 0.9, per seed
    text = (tmp_path / "report" / "report.md").read_text()
    assert f"Gap (sparsity 0 minus 0.9, same seed): {gap.text(1)} points" in text
    assert "is ahead at 60 of the 60 epochs" in text
    assert "sparsity 0 99.10 ± 0.10 (n=3) %" in text


@pytest.mark.parametrize("make,message", [
    (lambda p: p / "nowhere", "does not exist"),
    (lambda p: p, "no runs in it"),
])
def test_nothing_to_report_is_a_one_line_error(tmp_path, make, message):
    with pytest.raises(PrunelabError, match=message):
        cli("report", make(tmp_path), "--output", tmp_path / "report")


def test_test_errors_come_from_the_test_set_only():
    from types import SimpleNamespace

    from prunelab.reporting.compression import test_error_pct

    on_test = SimpleNamespace(summary={"evaluated_on": "test", "pruned": {"test_accuracy": 0.99},
                                       "compressed": {"test_accuracy": 0.98}})
    chose_on_validation = SimpleNamespace(summary={"evaluated_on": "validation", "pruned": {"test_accuracy": 0.5},
                                                   "final_test": {"pruned": {"test_accuracy": 0.97}}})
    assert test_error_pct(on_test, "pruned") == pytest.approx(1.0)
    assert test_error_pct(on_test, "quantized") == pytest.approx(2.0)
    assert test_error_pct(chose_on_validation, "pruned") == pytest.approx(3.0)
    assert test_error_pct(chose_on_validation, "quantized") is None  # validation figures are never shown as test


def test_published_mnist_points_are_left_out_of_a_fashion_mnist_report(tmp_path):
    runs = tmp_path / "runs"
    for sparsity in (0.5, 0.9):
        fake_run(runs, [0.85, 0.86], prune__sparsity=sparsity, data__dataset="fashion-mnist")
    assert cli("report", runs, "--output", tmp_path / "report") == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "No published points" in text and "Deep Compression" not in text
    fake_run(tmp_path / "mnist", [0.98, 0.99], prune__sparsity=0.9)
    fake_run(tmp_path / "mnist", [0.98, 0.99], prune__sparsity=0.5)
    assert cli("report", tmp_path / "mnist", "--output", tmp_path / "mnist-report") == 0
    assert "Deep Compression" in (tmp_path / "mnist-report" / "report.md").read_text()


def test_a_forged_sweep_record_cannot_send_the_report_outside_its_runs_folder(smoke, tmp_path):
    """issue 23: a sweep.json naming /etc or ../../.. made the report read any folder."""
    import shutil

    from prunelab.sweeps.manifest import read_manifest

    copy = tmp_path / "runs" / "sweeps" / "forged"
    shutil.copytree(smoke["out"], copy)
    record = json.loads((copy / "sweep.json").read_text())
    for runs, message in (([str(tmp_path)], "not a path relative"), (["../../../../etc"], "outside its runs folder"),
                          ("a string", "not a sweep record")):
        (copy / "sweep.json").write_text(json.dumps({**record, "runs": runs}))
        with pytest.raises(PrunelabError, match=message):
            read_manifest(copy)
    (copy / "sweep.json").write_text("[1, 2")
    with pytest.raises(PrunelabError, match="is damaged"):
        read_manifest(copy)


def test_a_damaged_sweep_record_is_replaced_when_the_sweep_ends(smoke, tmp_path):
    """It raised after all the training: it only holds the executions' timings."""
    from prunelab.sweeps.manifest import FILE_NAME, _previous

    (tmp_path / FILE_NAME).write_text("{not json")
    assert _previous(tmp_path / FILE_NAME) == {}
    (tmp_path / FILE_NAME).write_text("[1, 2]")
    assert _previous(tmp_path / FILE_NAME) == {}


def test_a_hand_edited_summary_or_config_is_reported_as_unchecked(smoke, tmp_path):
    """issue 23: the report showed a hand-edited 99.99% dense accuracy, and a LeNet-5 run relabelled
    LeNet-5-Caffe in its config.toml, as fact."""
    import shutil

    from prunelab.reporting.base import load_record

    runs = tmp_path / "runs"
    shutil.copytree(smoke["runs"], runs, symlinks=True)
    run = next(p for p in runs.iterdir() if p.name.startswith("lenet5-"))
    assert load_record(run).unchecked is None
    summary = json.loads((run / "summary.json").read_text())
    summary["dense"]["test_accuracy"] = 0.9999
    (run / "summary.json").write_text(json.dumps(summary))
    assert "summary.json says dense test_accuracy 0.9999, its stage record" in load_record(run).unchecked
    assert cli("report", runs, "--output", tmp_path / "report") == 0
    assert "1 of these runs could not be checked" in (tmp_path / "report" / "report.md").read_text()
    config = (run / "config.toml").read_text()
    (run / "config.toml").write_text(config.replace('model = "lenet5"', 'model = "lenet5-caffe"'))
    assert "config.toml is not the settings its name was made from" in load_record(run).unchecked
