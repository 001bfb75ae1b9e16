"""Parallel workers that need the same stage take turns: one trains it, the others reuse it."""

import threading
import time

from sweep_helpers import PAIR, cli

from prunelab.runs.pipeline import stage_dir, stage_lock
from prunelab.sweeps.spec import load_sweep


def test_a_held_stage_lock_blocks_a_second_holder_until_released(tmp_path):
    stage, order = tmp_path / "stages" / "dense-abc", []

    def second():
        with stage_lock(stage, log=order.append):
            order.append("second has it")

    with stage_lock(stage, log=order.append):
        worker = threading.Thread(target=second)
        worker.start()
        time.sleep(0.3)
        order.append("first lets go")
    worker.join(10)
    assert order == [f"dense: waiting, another process is working on {stage}", "first lets go", "second has it"]


def test_two_worker_processes_share_one_dense_model(mnist, tmp_path, capsys):
    sweep_file = tmp_path / "pair.toml"
    sweep_file.write_text(PAIR)
    runs = tmp_path / "runs"
    dense = stage_dir(load_sweep(sweep_file).configs[0], runs, "dense")
    messages, result = [], {}

    def sweep():
        result["code"] = cli("sweep", sweep_file, "--runs-dir", runs, "--jobs", 2)

    # Hold the dense stage's lock until both spawned workers wait on it, so that they certainly
    # overlap; released, one of them trains the stage and the other must reuse it.
    with stage_lock(dense):
        thread = threading.Thread(target=sweep)
        thread.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(waiting(capsys, messages)) < 2:
            time.sleep(0.2)
        assert len(waiting(capsys, messages)) == 2
    thread.join(300)
    messages += capsys.readouterr().err.splitlines()
    assert result["code"] == 0
    assert sum("dense epoch 1/1" in m for m in messages) == 1
    assert sum(f"dense: reusing {dense}" in m for m in messages) == 1
    assert len((dense / "metrics.jsonl").read_text().splitlines()) == 1


def waiting(capsys, messages) -> list[str]:
    messages += capsys.readouterr().err.splitlines()
    return [m for m in messages if "dense: waiting" in m]
