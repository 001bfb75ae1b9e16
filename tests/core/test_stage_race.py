"""Whether a stage is reused is decided holding its lock: a second process neither checks a stage
while another rewrites it nor decides to compute it beside the one that is."""

import os
import subprocess
import sys
import time
from pathlib import Path

from prunelab.runs import pipeline, record
from prunelab.runs.config import RunConfig, set_value, to_toml

SETTINGS = {"data.train_limit": 200, "data.test_limit": 100, "train.epochs": 1, "train.batch_size": 32}


def config() -> RunConfig:
    value = RunConfig()
    for key, item in SETTINGS.items():
        set_value(value, key, item)
    return value


def start_train(config_file: Path, runs: Path) -> subprocess.Popen:
    """`prunelab train` in a process of its own, as a second sweep or a second user would run it."""
    code = "import sys; from prunelab.cli.main import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code, "train", "--config", str(config_file), "--runs-dir",
                             str(runs)], env=env, stderr=subprocess.PIPE, text=True)


def test_a_finished_stage_is_not_reused_while_another_process_rewrites_it(mnist, tmp_path):
    runs, config_file = tmp_path / "runs", tmp_path / "run.toml"
    config_file.write_text(to_toml(config()))
    pipeline.execute(config(), runs, log=lambda m: None, stop="dense")
    dense = pipeline.stage_dir(config(), runs, "dense")
    lines = []
    # This process takes the stage's lock as one rewriting the stage would (newer code, say); the
    # other must wait for it, and then find and compute the stage as it was left, not the old one.
    with pipeline.stage_lock(dense):
        other = start_train(config_file, runs)
        for line in other.stderr:
            lines.append(line.rstrip("\n"))
            if line.startswith("dense: waiting"):
                break
        assert lines[-1] == f"dense: waiting, another process is working on {dense}", lines
        record.start_over(dense)  # the rewrite begins: the old files go
        time.sleep(0.5)
        assert other.poll() is None  # still waiting
    lines += other.stderr.read().splitlines()
    assert other.wait(120) == 0, lines
    assert "dense epoch 1/1: " in "\n".join(lines) and not any("reusing" in line for line in lines)
    assert record.check(dense)[0] is not None
