"""A sweep file expanded into the list of runs it asks for.

    stop = "pruned"                 # optional: "dense" | "pruned" (default) | "all"
    [base]                          # any run settings, shaped like a run config
    train.epochs = 5                #   (or: base = "path/to/run.toml", relative to this file)
    [grid]                          # dotted setting -> list of values; the cartesian product
    "prune.sparsity" = [0.5, 0.9]
    [[runs]]                        # optional: explicit override tables, one per run (or per group)
    prune.method = "course"
    [runs.grid]                     # optional: a grid inside one entry
    seed = [0, 1, 2]

Every entry of [[runs]] (or one empty entry when there is none) is combined with every point
of the top-level [grid] and of its own grid. Values apply in the order base (with any command-line
--set), entry, grids; a key set by two of entry, top grid and entry grid is an error rather than a
silent winner. The expansion is a pure function of the parsed file, so the run list can be tested
exactly.
"""

import copy
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

from prunelab.errors import PrunelabError
from prunelab.runs.config import RunConfig, flatten, load_toml, read_toml, set_value
from prunelab.runs.pipeline import STOPS, run_name
from prunelab.runs.validate import validate
TOP_KEYS = {"base", "grid", "runs", "stop"}
MAX_RUNS = 1000  # past this a sweep must be asked for explicitly (--max-runs): 10^6 points took 2.4 GB to expand


@dataclass
class Sweep:
    name: str  # the file's stem, used for the output folder
    path: Path
    stop: str
    configs: list[RunConfig]
    overrides: dict  # command-line --set values applied to the base


def load_sweep(path, overrides: dict | None = None, max_runs: int = MAX_RUNS) -> Sweep:
    path = Path(path)
    return parse_sweep(read_toml(path, "sweep file"), path, overrides or {}, max_runs)


def parse_sweep(values: dict, path: Path, overrides: dict, max_runs: int = MAX_RUNS) -> Sweep:
    unknown = set(values) - TOP_KEYS
    if unknown:
        raise PrunelabError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; "
                            f"a sweep has {', '.join(sorted(TOP_KEYS))}")
    stop = values.get("stop", "pruned")
    if stop not in STOPS:
        raise PrunelabError(f"{path}: stop must be one of {', '.join(STOPS)}, got {stop!r}")
    base = base_config(values.get("base", {}), path)
    for key, value in overrides.items():
        set_value(base, key, value)
    entries = values.get("runs", [{}])
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise PrunelabError(f"{path}: [[runs]] must be a non-empty list of tables")
    count = run_count(values.get("grid", {}), entries)
    if count > max_runs:
        raise PrunelabError(f"{path} asks for {count:,} runs, more than the limit of {max_runs:,}; "
                            f"give --max-runs {count} to make them")
    top_grid = grid_points(values.get("grid", {}), "[grid]")
    configs = expand(base, entries, top_grid)
    for config in configs:
        validate(config)
    return Sweep(path.stem, path, stop, unique(configs), dict(overrides))


def base_config(base, path: Path) -> RunConfig:
    """The [base] table, or the run config file that `base = "..."` names."""
    if isinstance(base, str):
        return load_toml((path.parent / base) if not Path(base).is_absolute() else base)
    if not isinstance(base, dict):
        raise PrunelabError(f"{path}: base must be a table or the path of a run config")
    return RunConfig.from_dict(base)


def expand(base: RunConfig, entries: list[dict], top_grid: list[dict]) -> list[RunConfig]:
    configs = []
    for number, entry in enumerate(entries, 1):
        entry = dict(entry)
        inner_grid = grid_points(entry.pop("grid", {}), f"[[runs]] entry {number} grid")
        fixed = flatten(entry)
        for outer, inner in itertools.product(top_grid, inner_grid):
            clash = (set(fixed) & set(outer)) | (set(fixed) & set(inner)) | (set(outer) & set(inner))
            if clash:
                raise PrunelabError(f"[[runs]] entry {number} sets {', '.join(sorted(clash))} twice")
            config = copy.deepcopy(base)
            for key, value in {**fixed, **outer, **inner}.items():
                set_value(config, key, value)
            configs.append(config)
    return configs


def run_count(grid, entries: list[dict]) -> int:
    """How many runs the file asks for (before repeats are dropped), counted without expanding."""
    def points(table) -> int:
        if not isinstance(table, dict):
            return 1  # grid_points names the error
        return math.prod(len(v) if isinstance(v, list) else 1 for v in flatten(table).values())

    return points(grid) * sum(points(entry.get("grid", {})) for entry in entries)


def grid_points(grid, where: str) -> list[dict]:
    """{key: [values]} -> one dict per point of the cartesian product (last key varies fastest)."""
    if not isinstance(grid, dict):
        raise PrunelabError(f"{where} must be a table of setting = [values]")
    axes = flatten(grid)
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise PrunelabError(f"{where}: '{key}' needs a non-empty list of values, got {values!r}")
    return [dict(zip(axes, point)) for point in itertools.product(*axes.values())]


def unique(configs: list[RunConfig]) -> list[RunConfig]:
    """Drop repeats (two experiments asking for the same run), keeping the first's place."""
    seen, kept = set(), []
    for config in configs:
        key = run_name(config)
        if key not in seen:
            seen.add(key)
            kept.append(config)
    return kept
