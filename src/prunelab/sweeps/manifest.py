"""The sweep's output folder and its sweep.json: which runs belong to it, and how it last ran.

Run directories are stored relative to the output folder, so a runs folder moved or copied as a
whole still finds its runs; `prunelab report` reads this file to know a sweep's runs.
"""

import json
import os
from pathlib import Path

from prunelab.errors import PrunelabError
from prunelab.foundations.files import read_json_file, write_json
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
    previous = _previous(path)
    executions = previous.get("executions") or ([previous["execution"]] if previous.get("execution") else [])
    if not isinstance(executions, list):
        executions = []
    if execution is not None:
        executions.append(execution)
    runs = [os.path.relpath(run.resolve(), Path(folder).resolve()) for run in sweep_run_dirs(sweep, runs_dir)]
    value = {"sweep_file": str(sweep.path), "overrides": sweep.overrides, "stop": sweep.stop, "runs": runs,
             "executions": executions}
    write_json(path, value)
    return path


def _previous(path: Path) -> dict:
    """The last sweep.json, for its executions; a damaged one (or one that is not an object) is
    replaced, not fatal: it only held timings, and the sweep has just finished its work."""
    try:
        value = read_json_file(path, "sweep record")
    except PrunelabError:
        return {}
    return value if isinstance(value, dict) else {}


def read_manifest(folder: Path) -> dict:
    """sweep.json with its runs resolved to paths, each inside the runs folder the sweep folder
    belongs to (`<runs>/sweeps/<name>`): a forged entry cannot send the report elsewhere."""
    path = Path(folder) / FILE_NAME
    value = read_json_file(path, "sweep record")
    if not isinstance(value, dict) or not isinstance(value.get("runs", []), list):
        raise PrunelabError(f"{path} is not a sweep record (an object with a list of runs)")
    runs_root = Path(folder).resolve().parent.parent
    runs = []
    for run in value.get("runs", []):
        if not isinstance(run, str) or os.path.isabs(run):
            raise PrunelabError(f"{path} names a run that is not a path relative to the sweep: {str(run)[:80]!r}")
        resolved = (Path(folder) / run).resolve()
        if runs_root not in resolved.parents:
            raise PrunelabError(f"{path} names a run outside its runs folder: {run[:80]!r}")
        runs.append(Path(folder) / run)
    return {**value, "runs": runs}

