"""What every figure works from: finished runs read from disk, grouped, with spread over seeds.

A figure function takes the list of `RunRecord`s and an output folder and returns a `Figure`
(file and the numbers it shows, in words) or a `Skipped` (why it could not be drawn): no figure
is drawn from data that is not there, and the report says which ones were left out.
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from prunelab.data.npz import is_npz
from prunelab.errors import PrunelabError
from prunelab.foundations.files import read_json_file
from prunelab.runs.config import flatten, load_toml
from prunelab.runs.measured import by_split, name_by_split
from prunelab.training.metrics import read_rows


@dataclass
class Figure:
    title: str
    file: str  # PNG name inside the report folder
    text: str  # what it shows, with the numbers


@dataclass
class Skipped:
    title: str
    reason: str


@dataclass
class RunRecord:
    name: str
    path: Path
    settings: dict  # dotted name -> value, e.g. "prune.sparsity": 0.9 (device left out)
    summary: dict  # figures named for the split that measured them (runs/measured.py)
    metrics: dict = field(default_factory=dict)  # stage -> per-epoch rows, named the same way
    unchecked: str | None = None  # why its files do not bear out its summary (the report says so)

    @property
    def sparsity(self) -> float:
        return self.settings["prune.sparsity"]

    @property
    def seed(self) -> int:
        return self.settings["seed"]

    @property
    def split(self) -> str:
        """"test" or "validation": what the summary's and the epochs' figures were measured on."""
        return self.summary.get("evaluated_on", "test")

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """One example's (C, H, W) or (F,): as the summary records it, else the built-in datasets'."""
        if "input_shape" in self.summary:
            return tuple(self.summary["input_shape"])
        return None if is_npz(self.settings["data.dataset"]) else (1, 28, 28)

    def pruned_rows(self) -> list[dict]:
        return self.metrics.get("pruned", []) if "pruned" in self.summary else []


def load_record(run: Path) -> RunRecord | None:
    """A run directory with config.toml and summary.json, checked (``check_summary``: ``unchecked``
    says why its stage records do not bear it out); None for an unfinished one."""
    if not (run / "config.toml").exists() or not (run / "summary.json").exists():
        return None
    config = load_toml(run / "config.toml")
    settings = flatten(config.to_dict())
    settings.pop("device")
    summary = read_json_file(run / "summary.json", "summary")
    if not isinstance(summary, dict) or "dense" not in summary:
        raise PrunelabError(f"summary {run / 'summary.json'} is damaged (not a run's summary); delete it and rerun the run")
    problem = check_summary(run, config, summary)
    summary = name_by_split(summary)  # also a summary written before validation figures had their own names
    split = summary.get("evaluated_on", "test")
    metrics = {stage: [by_split(row, split) for row in read_rows(run / stage / "metrics.jsonl")]
               for stage in ("dense", "pruned", "quantized")}
    return RunRecord(run.name, run, settings, summary, metrics, problem)


STAGE_SECTIONS = (("dense", "dense"), ("pruned", "pruned"), ("quantized", "compressed"))


def check_summary(run: Path, config, summary: dict) -> str | None:
    """Why ``summary`` cannot be taken as fact, or None: the settings must be those the run's name
    hashes (a hand-edited config.toml is not), every stage it reports must be finished and intact
    (``runs.record.check``: the checksums of its result and files), and the figures it states for
    that stage must be the stage's own."""
    from prunelab.runs import record
    from prunelab.runs.pipeline import run_name

    if run_name(config) != run.name:
        return "its config.toml is not the settings its name was made from (edited?)"
    split = summary.get("evaluated_on", "test")
    for stage, section in STAGE_SECTIONS:
        if section not in summary:
            continue
        result, problem = record.check(run / stage)
        if result is None:
            return problem or f"its {stage} stage is not finished"
        stated = summary[section] if isinstance(summary[section], dict) else {}
        for figure in ("accuracy", "errors"):
            said = stated.get(f"{split}_{figure}", stated.get(f"test_{figure}"))
            if said != result.get(f"test_{figure}"):
                return f"summary.json says {section} {split}_{figure} {said!r}, its stage record {result.get(f'test_{figure}')!r}"
        for figure in ("file_bytes", "ratio", "sparsity"):
            if figure in stated and figure in result and stated[figure] != result[figure]:
                return f"summary.json says {section} {figure} {stated[figure]!r}, its stage record {result[figure]!r}"
    return None


def group(records: list[RunRecord], ignore: tuple) -> list[list[RunRecord]]:
    """Runs whose settings are equal except for the `ignore`d keys, in order of first appearance."""
    groups: dict[str, list] = {}
    for record in records:
        key = json.dumps({k: v for k, v in record.settings.items() if k not in ignore}, sort_keys=True)
        groups.setdefault(key, []).append(record)
    return list(groups.values())


def by_value(records: list[RunRecord], key: str) -> dict:
    """Setting value -> runs, sorted by value."""
    values: dict = {}
    for record in records:
        values.setdefault(record.settings[key], []).append(record)
    return dict(sorted(values.items()))


def varying(records: list[RunRecord], exclude=("seed",)) -> list[str]:
    """The settings that differ between the runs (what a table of them must show)."""
    keys = list(records[0].settings) if records else []
    return [k for k in keys if k not in exclude and len({json.dumps(r.settings.get(k)) for r in records}) > 1]


@dataclass
class Spread:
    """Mean, sample standard deviation, min and max of one number over seeds."""

    mean: float
    std: float
    low: float
    high: float
    n: int

    def text(self, scale: float = 1.0, digits: int = 2) -> str:
        if self.n == 1:
            return f"{self.mean * scale:.{digits}f}"
        return f"{self.mean * scale:.{digits}f} ± {self.std * scale:.{digits}f} (n={self.n})"


def spread(values) -> Spread:
    values = [float(v) for v in values]
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return Spread(mean, std, min(values), max(values), n)


def sparsity_families(records: list[RunRecord], min_epochs: int = 1) -> list[list[RunRecord]]:
    """Groups of pruned runs that differ only in sparsity (and seed), at least two sparsities,
    each run with at least `min_epochs` retraining epochs recorded."""
    pruned = [r for r in records if len(r.pruned_rows()) >= min_epochs]
    families = group(pruned, ("prune.sparsity", "seed"))
    return [f for f in families if len({r.sparsity for r in f}) >= 2]


def pick(families: list[list[RunRecord]], prefer=lambda family: 0):
    """The family that best shows a figure: `prefer` first, then most sparsities, seeds, runs."""
    if not families:
        return None
    return max(families, key=lambda f: (prefer(f), len({r.sparsity for r in f}), len({r.seed for r in f}), len(f)))


def describe(family: list[RunRecord]) -> str:
    """'lenet5 on mnist, method course (oneshot, backend prunelab), 5 retraining epochs after 5 dense, ...'."""
    s = family[0].settings
    backends = {r.settings["prune.backend"] for r in family}
    backend = f", backend {s['prune.backend']}" if len(backends) == 1 else ""
    seeds = sorted({r.seed for r in family})
    return (f"{s['model']} on {s['data.dataset']}, method {s['prune.method']} ({s['prune.schedule']}{backend}), "
            f"{len(family[0].pruned_rows())} retraining epochs after {s['train.epochs']} dense, "
            f"retraining lr {s['prune.lr']}, seeds {', '.join(map(str, seeds))}")
