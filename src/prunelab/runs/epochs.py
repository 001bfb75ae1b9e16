"""The one epoch driver the stages share: per epoch, train and evaluate (the stage's own step),
append the metrics row as it happens, log it, and checkpoint, so an interrupted stage resumes at
the next epoch; at the end, the stage's model file and result.json, and no checkpoint left."""

import time
from pathlib import Path
from typing import Callable

from prunelab.runs import checkpoint, record
from prunelab.training.metrics import MetricsLog


def run_epochs(stage_dir: Path, epochs: range, step: Callable[[int], dict], state: Callable[[int], dict],
               describe: Callable[[int, dict], str], log, metrics: MetricsLog | None, seconds: float = 0.0,
               name: str = "checkpoint.pt") -> float:
    """Run ``step(epoch) -> metrics row`` for each epoch; after each, write ``state(epoch + 1)`` (the
    model, optimizer and the stage's extras) with the seconds so far. Returns the total seconds."""
    for epoch in epochs:
        began = time.perf_counter()
        row = step(epoch)
        if metrics is not None:
            metrics.append(row)
        seconds += time.perf_counter() - began
        log(describe(epoch, row))
        checkpoint.save(Path(stage_dir) / name, {**state(epoch + 1), "seconds": seconds})
    return seconds


def finish(stage_dir: Path, result: dict, model_state: dict | None = None, inputs=()) -> dict:
    """The stage's end: ``model.pt`` (when given), ``result.json`` with the stage's record (its
    files' checksums and those of the earlier stages in ``inputs``, see record.py), and its
    checkpoint removed."""
    stage_dir = Path(stage_dir)
    if model_state is not None:
        checkpoint.save(stage_dir / "model.pt", model_state)
    record.write_result(stage_dir, result, inputs=inputs)
    (stage_dir / "checkpoint.pt").unlink(missing_ok=True)
    return result
