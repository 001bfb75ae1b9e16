"""The smoke sweep end to end on a few hundred real MNIST images: tables, reuse, resume."""

import json
import sqlite3

import pytest
from sweep_helpers import FEWER_IMAGES, SMOKE, cli, one_torch_thread, without_timing

from prunelab.runs import stages
from prunelab.runs.stages import finished


def test_smoke_sweep_writes_one_row_per_run_and_per_epoch(smoke):
    runs = without_timing(smoke["csv"])
    header, rows = runs[0], runs[1:]
    column = {name: i for i, name in enumerate(header)}
    assert len(rows) == 6 and {r[column["status"]] for r in rows} == {"finished"}
    assert sorted((r[column["prune_sparsity"]], r[column["prune_backend"]]) for r in rows) == [
        (s, b) for s in ("0.0", "0.5", "0.9") for b in ("prunelab", "torch")]
    assert len({r[column["dense_stage"]] for r in rows}) == 1  # one dense model for all six
    for r in rows:
        assert float(r[column["pruned_sparsity"]]) == pytest.approx(float(r[column["prune_sparsity"]]), abs=1e-3)
    epochs = without_timing(smoke["epochs"])
    assert len(epochs) - 1 == 6 * (2 + 2)  # every run: 2 dense epochs (shared) and 2 retraining epochs


def test_sqlite_tables_can_be_queried(smoke):
    with sqlite3.connect(smoke["out"] / "results.sqlite") as db:
        by_sparsity = db.execute("SELECT prune_sparsity, COUNT(*), AVG(pruned_sparsity) FROM runs "
                                 "GROUP BY prune_sparsity ORDER BY prune_sparsity").fetchall()
        last_epochs = db.execute("SELECT runs.prune_backend, epochs.test_accuracy FROM epochs JOIN runs USING (run) "
                                 "WHERE epochs.stage = 'pruned' AND epochs.epoch = 2").fetchall()
    assert [(s, n) for s, n, _ in by_sparsity] == [(0.0, 2), (0.5, 2), (0.9, 2)]
    assert [round(mean, 3) for _, _, mean in by_sparsity] == [0.0, 0.5, 0.9]
    assert len(last_epochs) == 6 and all(0.0 < accuracy <= 1.0 for _, accuracy in last_epochs)


def test_a_second_invocation_trains_nothing_and_gives_the_same_table(smoke, monkeypatch, capsys):
    def no_training(*args, **kwargs):
        raise AssertionError("the second invocation trained")

    monkeypatch.setattr(stages, "train_epoch", no_training)
    invocations = len(json.loads((smoke["out"] / "sweep.json").read_text())["executions"])
    capsys.readouterr()
    assert cli("sweep", SMOKE, "--runs-dir", smoke["runs"], "--jobs", 1, "--threads", 1, *FEWER_IMAGES) == 0
    out = capsys.readouterr().out
    assert "6 runs share 1 dense model (0 trained now, 1 reused from earlier)" in out
    assert "(1 at a time, 1 torch thread each)" in out
    # each invocation's load is kept: timings from a resumed sweep were measured under several
    assert len(json.loads((smoke["out"] / "sweep.json").read_text())["executions"]) == invocations + 1
    assert without_timing((smoke["out"] / "runs.csv").read_text()) == without_timing(smoke["csv"])
    assert without_timing((smoke["out"] / "epochs.csv").read_text()) == without_timing(smoke["epochs"])


def test_collect_only_rebuilds_the_tables_from_disk(smoke, monkeypatch):
    monkeypatch.setattr(stages, "train_epoch", None)  # anything that trains would fail
    for name in ("runs.csv", "epochs.csv", "results.sqlite"):
        (smoke["out"] / name).unlink()
    assert cli("sweep", SMOKE, "--runs-dir", smoke["runs"], "--collect-only", *FEWER_IMAGES) == 0
    assert without_timing((smoke["out"] / "runs.csv").read_text()) == without_timing(smoke["csv"])
    assert (smoke["out"] / "results.sqlite").exists()


def test_an_interrupted_sweep_loses_nothing_finished(smoke, tmp_path, monkeypatch):
    real, calls = stages.train_epoch, {"n": 0}

    def interrupted_after_5_epochs(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt  # as Ctrl-C would, in the middle of the third run
        return real(*args, **kwargs)

    monkeypatch.setattr(stages, "train_epoch", interrupted_after_5_epochs)
    with pytest.raises(KeyboardInterrupt), one_torch_thread():
        cli("sweep", SMOKE, "--runs-dir", tmp_path, "--jobs", 1, "--threads", 1, *FEWER_IMAGES)
    done = [d for d in (tmp_path / "stages").iterdir() if d.is_dir() and finished(d) is not None]
    assert len(done) == 2  # the dense model and the first run's pruned model; epoch 5 is checkpointed
    calls["n"] = -1000  # no more interruptions; count what the rerun trains
    with one_torch_thread():
        assert cli("sweep", SMOKE, "--runs-dir", tmp_path, "--jobs", 1, "--threads", 1, *FEWER_IMAGES) == 0
    assert calls["n"] + 1000 == 2 + 6 * 2 - 5  # only the epochs that had not finished
    out = next((tmp_path / "sweeps").iterdir())
    assert without_timing((out / "runs.csv").read_text()) == without_timing(smoke["csv"])
    assert without_timing((out / "epochs.csv").read_text()) == without_timing(smoke["epochs"])


def test_a_failing_run_fails_the_sweep_in_one_line_after_the_others_finish(smoke, tmp_path, monkeypatch, capsys):
    from prunelab.errors import PrunelabError
    from prunelab.runs import pipeline

    real = pipeline.execute

    def torch_backend_breaks(config, *args, **kwargs):
        if config.prune.backend == "torch":
            raise RuntimeError("simulated failure\nwith a second line")
        return real(config, *args, **kwargs)

    monkeypatch.setattr(pipeline, "execute", torch_backend_breaks)
    with pytest.raises(PrunelabError, match=r"3 of 6 runs failed \(first: RuntimeError: simulated failure\)"):
        cli("sweep", SMOKE, "--runs-dir", smoke["runs"], "--jobs", 1, "--output", tmp_path / "t", *FEWER_IMAGES)
    out = capsys.readouterr().out
    assert "sweep smoke: 3 of 6 runs finished" in out  # the others ran (here: were reused) all the same
    assert "collected 6 finished of 6 runs" in out  # from the smoke sweep's earlier, finished runs


def test_threads_below_one_are_refused(smoke):
    from prunelab.errors import PrunelabError

    with pytest.raises(PrunelabError, match="--threads must be at least 1, got 0"):
        cli("sweep", SMOKE, "--runs-dir", smoke["runs"], "--threads", 0)
