"""Helpers for the sweep and report tests: the commands through their own parsers, tables
compared without their timing columns, and fake finished runs written straight to disk."""

import argparse
import contextlib
import csv
import io
import json
from pathlib import Path

import torch

from prunelab.cli.report import register_report
from prunelab.cli.sweep import register_sweep
from prunelab.foundations.files import write_text
from prunelab.runs.config import RunConfig, set_value, to_toml

SMOKE = Path(__file__).resolve().parents[2] / "experiments" / "smoke.toml"
FEWER_IMAGES = ["--set", "data.train_limit=300", "--set", "data.test_limit=200"]
# Two tiny runs sharing one dense model: the smallest sweep in which two workers meet on a stage.
PAIR = """
[base]
data.train_limit = 200
data.test_limit = 100
train.epochs = 1
prune.epochs = 1
prune.schedule = "oneshot"
[grid]
"prune.sparsity" = [0.5, 0.9]
"""


def cli(*args) -> int:
    """`prunelab sweep|report ...` through the commands' own parsers (as COMMANDS will wire them)."""
    root = argparse.ArgumentParser(prog="prunelab")
    sub = root.add_subparsers(dest="command", required=True)
    register_sweep(sub.add_parser("sweep"))
    register_report(sub.add_parser("report"))
    parsed = root.parse_args([str(a) for a in args])
    return parsed.handler(parsed)


@contextlib.contextmanager
def one_torch_thread():
    """Train on one thread: on 2 cores shared with other work, torch's 2 threads wait on each
    other and were 5x slower here than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def without_timing(text: str) -> list[list[str]]:
    """CSV rows with every timing column (its name says 'seconds') dropped."""
    rows = list(csv.reader(io.StringIO(text)))
    keep = [i for i, name in enumerate(rows[0]) if "seconds" not in name]
    return [[row[i] for i in keep] for row in rows]


def fake_run(runs: Path, accuracies: list[float], seconds: float = 1.0, **settings) -> Path:
    """A finished run without training: config.toml, summary.json and a pruned metrics.jsonl whose
    test accuracy per retraining epoch is `accuracies` (test set of 1,000 images)."""
    config = RunConfig()
    for key, value in settings.items():
        set_value(config, key.replace("__", "."), value)
    run = runs / f"fake-{len(list(runs.glob('fake-*'))) if runs.exists() else 0}"
    write_text(run / "config.toml", to_toml(config))
    rows = [{"stage": "pruned", "epoch": i + 1, "train_loss": 1.0 / (i + 1), "test_loss": 1.0 - a,
             "test_accuracy": a, "test_correct": round(1000 * a), "test_errors": 1000 - round(1000 * a),
             "train_seconds": seconds, "test_seconds": seconds / 10} for i, a in enumerate(accuracies)]
    write_text(run / "pruned" / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    kept = round(1000 * (1 - config.prune.sparsity))
    layer = {"layer": "fc1", "weights": 1000, "kept": kept, "density": kept / 1000}
    section = {"test_accuracy": accuracies[-1], "test_errors": 1000 - round(1000 * accuracies[-1]),
               "weights_total": 1000, "weights_nonzero": kept}
    # a validation run's figures under test_ names: as summary.json was written before they had their own
    summary = {"model": config.model, "dataset": "mnist", "seed": config.seed, "evaluated_on": config.data.evaluated_on,
               "dense": {**section, "weights_nonzero": 1000}, "seconds": {"data": 0.1},
               "pruned": {**section, "sparsity": config.prune.sparsity, "layers": [layer, {**layer, "layer": "total"}]}}
    write_text(run / "summary.json", json.dumps(summary))
    return run
