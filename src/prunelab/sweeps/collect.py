"""All results of a sweep in one table: runs.csv, epochs.csv and results.sqlite.

Read only from the run directories (config.toml, summary.json, each stage's metrics.jsonl), so
the tables can be rebuilt at any time (`prunelab sweep FILE --collect-only`). Column names use
underscores (`prune_sparsity`, `pruned_test_accuracy`) so SQL needs no quoting:

    SELECT prune_sparsity, AVG(pruned_test_accuracy) FROM runs GROUP BY prune_sparsity;
    SELECT run, epoch, train_loss FROM epochs WHERE stage = 'pruned';

A run with data.validation = true is measured on the validation split, and its figures are named
so (`pruned_validation_accuracy`, epochs' `validation_loss`; runs/measured.py), also when its
summary.json was written before that naming; its `final_test_*` columns are the test set's.
"""

import csv
import io
import os
import sqlite3
import tempfile
from pathlib import Path

from prunelab.errors import PrunelabError
from prunelab.foundations.files import read_json_file, write_text
from prunelab.runs.config import load_toml
from prunelab.runs.config import flatten as flatten_settings
from prunelab.runs.measured import by_split, name_by_split
from prunelab.sweeps.hosts import read_host
from prunelab.training.metrics import read_rows

STAGES = ("dense", "pruned", "quantized")
DONE_WHEN = {"dense": "dense", "pruned": "pruned", "all": "compressed"}  # summary section per stop


def flatten(values: dict) -> dict:
    """Nested dicts -> {"a_b": leaf}; lists (per-layer tables) are left out."""
    return {k: v for k, v in flatten_settings(values, "_").items() if not isinstance(v, list)}


def run_row(run: Path, stop: str) -> dict:
    """One row: the run's name, status, settings, stage directories and summary numbers."""
    row = {"run": run.name}
    try:
        summary = read_json_file(run / "summary.json", "summary") or {}
        row["status"] = "finished" if DONE_WHEN[stop] in summary else "unfinished"
    except PrunelabError:  # cut short by a crash: the run is redone by the next sweep
        summary = {}
        row["status"] = "damaged"
    if not isinstance(summary, dict):
        summary, row["status"] = {}, "damaged"
    summary = name_by_split(summary)
    if (run / "config.toml").exists():
        settings = load_toml(run / "config.toml").to_dict()
        settings.pop("device")
        row.update(flatten(settings))
    for stage in STAGES:
        if (run / stage).is_symlink() or (run / stage).exists():
            row[f"{stage}_stage"] = Path(os.readlink(run / stage)).name if (run / stage).is_symlink() else stage
            if (host := read_host(run / stage)) is not None:  # only the Ray executor records hosts
                row[f"{stage}_host"] = host
    row.update(flatten({k: v for k, v in summary.items() if k not in ("model", "dataset", "seed")}))
    for layer in summary.get("pruned", {}).get("layers", [])[:-1]:  # the last row is the total
        row[f"pruned_density_{layer['layer'].replace('.', '_')}"] = layer["density"]
    return row


def epoch_rows(run: Path) -> list[dict]:
    """One row per epoch of each of the run's stages (a shared stage appears under every run), its
    figures named for the split that measured them."""
    split = load_toml(run / "config.toml").data.evaluated_on if (run / "config.toml").exists() else "test"
    rows = []
    for stage in STAGES:
        for metrics in read_rows(run / stage / "metrics.jsonl"):
            rows.append({"run": run.name, "stage": stage, **flatten(by_split(metrics, split))})
    return rows


def columns(rows: list[dict]) -> list[str]:
    """Every key, in order of first appearance."""
    return list(dict.fromkeys(key for row in rows for key in row))


def to_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns(rows), restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def sql_type(values) -> str:
    present = [v for v in values if v is not None and v != ""]
    if all(isinstance(v, (bool, int)) for v in present):
        return "INTEGER"
    if all(isinstance(v, (bool, int, float)) for v in present):
        return "REAL"
    return "TEXT"


def write_sqlite(path: Path, tables: dict[str, list[dict]]) -> None:
    """A fresh database, built beside the old one and renamed over it (readers never see half).
    The temporary file has a name of its own, so two collections at once cannot delete each other's."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        fill_sqlite(temporary, tables)
        os.replace(temporary, path)
    except (OSError, sqlite3.Error) as exc:
        raise PrunelabError(f"could not write {path}: {exc}") from None
    finally:
        temporary.unlink(missing_ok=True)


def fill_sqlite(temporary: Path, tables: dict[str, list[dict]]) -> None:
    with sqlite3.connect(temporary) as db:
        for table, rows in tables.items():
            names = columns(rows) or ["run"]  # an empty table still has its key column
            kinds = [sql_type([row.get(n) for row in rows]) for n in names]
            definition = ", ".join(f'"{n}" {k}' for n, k in zip(names, kinds))
            db.execute(f'CREATE TABLE "{table}" ({definition})')
            marks = ", ".join("?" * len(names))
            db.executemany(f'INSERT INTO "{table}" VALUES ({marks})', [[row.get(n) for n in names] for row in rows])
    db.close()


def collect(run_dirs: list[Path], stop: str, out_dir: Path) -> dict:
    """Write runs.csv, epochs.csv and results.sqlite; return their paths and the counts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = [run_row(run, stop) for run in run_dirs]
    epochs = [row for run in run_dirs for row in epoch_rows(run)]
    paths = {"runs": out_dir / "runs.csv", "epochs": out_dir / "epochs.csv", "sqlite": out_dir / "results.sqlite"}
    write_text(paths["runs"], to_csv(runs))
    write_text(paths["epochs"], to_csv(epochs))
    write_sqlite(paths["sqlite"], {"runs": runs, "epochs": epochs})
    finished = sum(row["status"] == "finished" for row in runs)
    return {**paths, "count": len(runs), "finished": finished}
