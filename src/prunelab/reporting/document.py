"""report.md: a read-only pass over run directories that writes Markdown, tables and PNG figures.

Nothing is trained or rewritten; the same runs on disk always give the same report (except the
timing numbers, which are whatever was measured when the runs ran).
"""

import json
from pathlib import Path

from prunelab.errors import PrunelabError
from prunelab.foundations.files import write_text
from prunelab.reporting import bars, compression, curves, weights
from prunelab.reporting.base import Figure, Skipped, group, load_record, spread, varying

FIGURES = [
    curves.loss_per_sparsity, bars.correct_after_5_epochs, curves.high_sparsity_20_epochs,
    curves.dense_vs_sparse_60_epochs, bars.time_per_sparsity, bars.backends_side_by_side,
    compression.error_vs_compression, compression.size_vs_error, compression.layer_sparsity, weights.masks, weights.histograms,
]
NOT_RUNS = {"stages", "sweeps"}


def find_runs(inputs: list) -> tuple[list[Path], list[dict]]:
    """Run directories from sweep folders (sweep.json), runs folders, or run directories; and the
    sweeps' execution notes (how many ran at a time, which matters for the timings)."""
    runs, executions = [], []
    for given in map(Path, inputs):
        if (given / "sweep.json").exists():
            from prunelab.sweeps.manifest import read_manifest

            manifest = read_manifest(given)
            runs += manifest["runs"]
            executions.append({"sweep": str(given), "runs": manifest.get("executions") or []})
        elif (given / "config.toml").exists():
            runs.append(given)
        elif given.is_dir():
            found = sorted(p for p in given.iterdir() if p.name not in NOT_RUNS and (p / "config.toml").exists())
            if not found:
                raise PrunelabError(f"{given}: no runs in it (expected a sweep folder, a runs folder or a run)")
            runs += found
        else:
            raise PrunelabError(f"{given} does not exist")
    unique = list({run.resolve(): run for run in runs}.values())
    return unique, executions


def runs_table(records) -> str:
    """One row per setting combination, numbers as mean ± std over its seeds."""
    keys = varying(records)
    header = [*keys, "seeds", "dense acc. (%)", "pruned acc. (%)", "sparsity", "file x", "train s/epoch"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    validated = False
    for runs in group(records, ("seed",)):
        split = runs[0].split  # data.validation is a setting: one split per group
        on = "" if split == "test" else " (validation)"
        validated |= split != "test"
        cells = [str(runs[0].settings[k]) for k in keys] + [str(len(runs))]
        cells.append(spread([100 * r.summary["dense"][f"{split}_accuracy"] for r in runs]).text(1, 2) + on)
        pruned = [r for r in runs if "pruned" in r.summary]
        cells.append(spread([100 * r.summary["pruned"][f"{split}_accuracy"] for r in pruned]).text(1, 2) + on
                     if pruned else "")
        cells.append(f"{pruned[0].summary['pruned']['sparsity']:.4f}" if pruned else "")
        files = [r for r in runs if "compressed" in r.summary]
        cells.append(f"{files[0].summary['compressed']['ratio']:.1f}" if files else "")
        timed = [r for r in runs if r.pruned_rows()]
        cells.append(spread([bars.per_epoch_seconds(r, "train_seconds") for r in timed]).text(1, 3) if timed else "")
        lines.append("| " + " | ".join(cells) + " |")
    if validated:
        lines += ["", "Accuracies marked (validation) were measured on the validation split the run chose its "
                      "settings on; such a run's test-set figures are in its summary.json's final_test."]
    return "\n".join(lines)


def draw(records, folder: Path) -> list:
    results = []
    for make in FIGURES:
        try:
            result = make(records, folder)
        except PrunelabError as exc:  # e.g. a damaged model file: leave the figure out, say why
            result = Skipped(make.__doc__.splitlines()[0] if make.__doc__ else make.__name__, str(exc))
        results += result if isinstance(result, list) else [result]
    return results


def write_report(inputs: list, folder) -> dict:
    folder = Path(folder)
    run_dirs, executions = find_runs(inputs)
    records = [r for r in map(load_record, run_dirs) if r is not None]
    if not records:
        raise PrunelabError(f"none of the {len(run_dirs)} runs found has finished (no summary.json)")
    unchecked = [f"{r.name}: {r.unchecked}" for r in records if r.unchecked]
    folder.mkdir(parents=True, exist_ok=True)
    results = draw(records, folder)
    figures = [r for r in results if isinstance(r, Figure)]
    skipped = [r for r in results if isinstance(r, Skipped)]
    lines = ["# prunelab report", "",
             f"Regenerate: `prunelab report {' '.join(map(str, inputs))} --output {folder}`", "",
             f"{len(records)} finished runs" + (f" ({len(run_dirs) - len(records)} unfinished left out)"
                                                  if len(run_dirs) > len(records) else "") + "."]
    if unchecked:
        lines += ["", f"**{len(unchecked)} of these runs could not be checked**: their summary.json is shown as it is "
                      f"on disk, not as their stage records bear it out:"]
        lines += [f"- {why}" for why in unchecked]
    for e in executions:
        if e["runs"]:
            parts = [f"{x['jobs']} runs at a time ({x.get('threads_per_job')} torch thread(s) each) for {x.get('seconds')} s"
                     for x in e["runs"]]
            lines.append(f"Sweep {e['sweep']} ran in {len(parts)} invocation(s): {'; '.join(parts)}. Times per "
                         "epoch were measured under that load (and whatever else shared the machine).")
    lines += ["", "## Runs", "", runs_table(records), ""]
    for figure in figures:
        lines += [f"## {figure.title}", "", f"![{figure.title}]({figure.file})", "", figure.text, ""]
    if skipped:
        lines += ["## Figures left out", ""] + [f"- {s.title}: {s.reason}" for s in skipped] + [""]
    report = folder / "report.md"
    write_text(report, "\n".join(lines))
    write_text(folder / "report.json", json.dumps({"figures": [f.file for f in figures],
                                                   "skipped": {s.title: s.reason for s in skipped}}, indent=2) + "\n")
    return {"report": report, "figures": figures, "skipped": skipped, "runs": len(records)}
