"""A finished stage is reused only when its record matches: the code version that made it, the
checksums of its result and files, and the earlier stages it was computed from."""

import json
from pathlib import Path

import pytest

from prunelab.errors import PrunelabError
from prunelab.runs import pipeline, record, stages
from prunelab.runs.config import RunConfig, set_value

CONFIG = {"data.train_limit": 300, "data.test_limit": 200, "train.epochs": 1, "train.batch_size": 32,
          "prune.epochs": 1, "prune.rounds": 1, "prune.sparsity": 0.8, "quantize.epochs": 0}


def tiny_config(**values) -> RunConfig:
    config = RunConfig()
    for key, value in values.items():
        set_value(config, key, value)
    return config


@pytest.fixture(scope="module")
def finished_run(mnist, tmp_path_factory):
    runs = tmp_path_factory.mktemp("record")
    summary = pipeline.execute(tiny_config(**CONFIG), runs, log=lambda m: None)
    return runs, Path(summary["run_dir"])


def again(runs):
    messages = []
    summary = pipeline.execute(tiny_config(**CONFIG), runs, log=messages.append)
    return summary, messages


def edit_result(stage: Path, **changes) -> None:
    path = stage / "result.json"
    value = json.loads(path.read_text())
    path.write_text(json.dumps({**value, **changes}))


def test_an_untouched_run_is_reused_whole(finished_run):
    runs, run = finished_run
    summary, messages = again(runs)
    assert summary["trained"] == []
    assert sum("reusing" in m for m in messages) == 3


def test_a_hand_edited_result_is_computed_again(finished_run):
    runs, run = finished_run
    true_accuracy = json.loads((run / "quantized" / "result.json").read_text())["test_accuracy"]
    edit_result(run / "quantized", file_bytes=1234, test_accuracy=0.9999)
    summary, messages = again(runs)
    assert any("quantized: computing again" in m and "edited" in m for m in messages)
    assert summary["compressed"]["test_accuracy"] == true_accuracy != 0.9999
    assert summary["compressed"]["file_bytes"] != 1234


def test_a_swapped_model_file_is_refused_and_computed_again(finished_run, tmp_path):
    runs, run = finished_run
    plc = run / "quantized" / "model.plc"
    plc.write_bytes(plc.read_bytes()[:-1] + bytes([plc.read_bytes()[-1] ^ 1]))
    with pytest.raises(PrunelabError, match="checksum mismatch"):
        record.verified_file(run / "quantized", "model.plc")
    summary, messages = again(runs)
    assert any("quantized: computing again" in m and "model.plc differs" in m for m in messages)
    assert record.verified_file(run / "quantized", "model.plc") == run / "quantized" / "model.plc"


def test_a_stage_from_an_older_code_version_is_computed_again(finished_run, monkeypatch):
    runs, run = finished_run
    monkeypatch.setitem(record.VERSIONS, "quantized", record.VERSIONS["quantized"] + 1)
    summary, messages = again(runs)
    assert any("quantized: computing again" in m and "version" in m for m in messages)
    assert [Path(d).name.split("-")[0] for d in summary["trained"]] == ["quantized"]


def test_a_stage_without_a_record_or_with_a_cut_result_is_computed_again(finished_run):
    runs, run = finished_run
    value = json.loads((run / "dense" / "result.json").read_text())
    value.pop("record")
    (run / "dense" / "result.json").write_text(json.dumps(value))
    (run / "pruned" / "result.json").write_text('{"test_acc')  # a truncated write
    summary, messages = again(runs)
    assert any("dense: computing again" in m and "no record" in m for m in messages)
    # the dense model is new, so the later stages, made from the old one, are computed again too
    assert [Path(d).name.split("-")[0] for d in summary["trained"]] == ["dense", "pruned", "quantized"]


def test_a_later_stage_made_from_an_earlier_stage_that_changed_is_stale(finished_run):
    runs, run = finished_run
    pruned = (run / "pruned").resolve()
    (pruned / "mask.pt").write_bytes((pruned / "mask.pt").read_bytes() + b"\0")
    assert stages.finished(pruned) is None
    summary, messages = again(runs)
    assert [Path(d).name.split("-")[0] for d in summary["trained"]] == ["pruned", "quantized"]


def test_leftover_temporary_files_go_when_the_stage_reruns(finished_run):
    runs, run = finished_run
    dense = (run / "dense").resolve()
    (dense / "result.json").unlink()
    (dense / ".model.pt.abc.tmp").write_bytes(b"cut short")
    again(runs)
    assert not list(dense.glob("*.tmp"))


def test_a_kill_after_the_last_epoch_resumes_with_a_true_message(mnist, tmp_path, monkeypatch):
    real = record.write_result

    def killed_before_the_result(stage_dir, *args, **kwargs):
        raise KeyboardInterrupt  # after the last epoch's checkpoint, before result.json

    monkeypatch.setattr(record, "write_result", killed_before_the_result)
    with pytest.raises(KeyboardInterrupt):
        pipeline.execute(tiny_config(**CONFIG), tmp_path, log=lambda m: None)
    monkeypatch.setattr(record, "write_result", real)
    summary, messages = again(tmp_path)
    assert "dense: resuming after epoch 1 of 1" in messages  # was "resuming at epoch 2" (of 1)
    assert summary["trained"] and (Path(summary["run_dir"]) / "dense" / "result.json").exists()


def test_a_stage_folder_that_links_elsewhere_is_replaced_and_its_target_left_alone(tmp_path):
    """A stale stage starts over by deleting its files; through a symbolic link that would delete
    files of a folder outside the runs folder (issue 23)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "result.json").write_text("{}")  # a record that fails its check: stale
    (elsewhere / "thesis.tex").write_text("years of work")
    stage = tmp_path / "runs" / "stages" / "dense-0"
    stage.parent.mkdir(parents=True)
    stage.symlink_to(elsewhere)
    assert stages.reusable(stage, "dense", log=lambda m: None) is None
    assert (elsewhere / "thesis.tex").read_text() == "years of work" and (elsewhere / "result.json").exists()
    assert stage.is_dir() and not stage.is_symlink() and not list(stage.iterdir())
