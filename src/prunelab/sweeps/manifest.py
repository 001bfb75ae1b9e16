"""The sweep's output folder and its sweep.json: which runs belong to it, and how it last ran.

Run directories are stored relative to the output folder, so a runs folder moved or copied as a
whole still finds its runs; `prunelab report` reads this file to know a sweep's runs.
"""

import json
import os
from pathlib import Path

from prunelab.errors import PrunelabError
from prunelab.foundations.files import write_json
from prunelab.runs.config import settings_hash
from prunelab.runs.pipeline import run_dir

FILE_NAME = "sweep.json"


def output_dir(sweep, runs_dir) -> Path:
    """`<runs>/sweeps/<stem>`; command-line overrides get their own folder (`<stem>-<hash>`), so
    `--set data.dataset=fashion-mnist` does not overwrite the MNIST tables."""
    name = sweep.name if not sweep.overrides else f"{sweep.name}-{settings_hash(sweep.overrides)[:8]}"
    return Path(runs_dir) / "sweeps" / name


def sweep_run_dirs(sweep, runs_dir) -> list[Path]:
    return [run_dir(config, runs_dir) for config in sweep.configs]


def write_manifest(folder: Path, sweep, runs_dir, execution: dict | None) -> Path:
    """sweep.json. `executions` lists every invocation that ran (jobs, threads, seconds), since a
    sweep resumed several times measured its timings under each; collecting only adds nothing."""
    path = Path(folder) / FILE_NAME
    previous = json.loads(path.read_text()) if path.exists() else {}
    executions = previous.get("executions") or ([previous["execution"]] if previous.get("execution") else [])
    if execution is not None:
        executions.append(execution)
    runs = [os.path.relpath(run.resolve(), Path(folder).resolve()) for run in sweep_run_dirs(sweep, runs_dir)]
    value = {"sweep_file": str(sweep.path), "overrides": sweep.overrides, "stop": sweep.stop, "runs": runs,
             "executions": executions}
    write_json(path, value)
    return path


def read_manifest(folder: Path) -> dict:
    """sweep.json with its runs resolved to paths."""
    path = Path(folder) / FILE_NAME
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PrunelabError(f"{path} is unreadable: {exc}".splitlines()[0]) from None
    return {**value, "runs": [Path(folder) / run for run in value.get("runs", [])]}

