"""The record runs in one Markdown table, against the round-two targets (issue 15; test set, MNIST).

    python3 experiments/records/summarize.py results/records-* > results/records.md

Each folder holds a run's summary.json (or one subfolder per seed), file-test.json,
onnx-test.json, and (since round two) c-test.json and decompress.txt as
experiments/records/run-all.sh writes them; a column is "-" where a folder predates its file. Test figures come from the
summary's final_test (measured once, after the settings were chosen on the validation split), or,
for a run trained on all training images with those settings, from its stages directly.
"""

import json
import re
import statistics
import sys
from pathlib import Path

TARGETS = {  # model -> what (issue 15's targets; round one asked 100x / 8,621 bytes / 60x / 3 seeds)
    "lenet5-caffe": ">= 200x fewer nonzero weights at test error <= 0.80 %, and a file >= 400x smaller "
                    "(<= 4,310 bytes) at test error <= 1.0 %",
    "lenet-300-100": ">= 68x fewer nonzero weights at test error <= 1.80 %",
    "lenet5": ">= 95 % sparsity within 0.1 point of the dense model's test accuracy, mean of 5 seeds",
}


def row(folder: Path) -> dict:
    summary = json.loads((folder / "summary.json").read_text())
    if summary["evaluated_on"] == "test":  # trained on all training images: every stage was tested once
        final = {"dense": summary["dense"], "pruned": summary["pruned"], "quantized": summary["compressed"]}
    else:
        final = summary["final_test"]
    pruned = summary["pruned"]
    onnx = json.loads((folder / "onnx-test.json").read_text())
    c_engine = json.loads((folder / "c-test.json").read_text()) if (folder / "c-test.json").exists() else None
    layers = (folder / "decompress.txt").read_text() if (folder / "decompress.txt").exists() else ""
    compact = re.search(r"compact architecture (\S+) -> (\S+):", layers)
    return {
        "model": summary["model"], "seed": summary["seed"], "method": pruned["method"],
        "sparsity": pruned["sparsity"], "fewer": pruned["weights_total"] / pruned["weights_nonzero"],
        "dense": 100 * final["dense"]["test_accuracy"], "pruned": 100 * final["pruned"]["test_accuracy"],
        "file": 100 * final["quantized"]["test_accuracy"], "bytes": summary["compressed"]["file_bytes"],
        "smaller": summary["compressed"]["ratio"], "onnx": 100 * onnx["test_accuracy"],
        "c": f"{100 * c_engine['test_accuracy']:.2f}" if c_engine else "-",
        "compact": f"{compact[1]} -> {compact[2]}" if compact else "-",
    }


def verdict(model: str, rows: list[dict]) -> str:
    mean = {k: statistics.mean(r[k] for r in rows) for k in ("sparsity", "fewer", "dense", "pruned", "file", "bytes")}
    if model == "lenet5-caffe":
        weights = mean["fewer"] >= 200 and 100 - mean["pruned"] <= 0.80
        storage = mean["bytes"] <= 4310 and 100 - mean["file"] <= 1.0
        return (f"weights {'met' if weights else 'NOT met'} ({mean['fewer']:.0f}x at {100 - mean['pruned']:.2f} %); "
                f"storage {'met' if storage else 'NOT met'} ({mean['bytes']:,.0f} bytes at {100 - mean['file']:.2f} %)")
    if model == "lenet-300-100":
        met = mean["fewer"] >= 68 and 100 - mean["pruned"] <= 1.80
        return f"{'met' if met else 'NOT met'} ({mean['fewer']:.0f}x at {100 - mean['pruned']:.2f} %)"
    if model == "lenet5":
        gap = mean["dense"] - mean["pruned"]
        met = len(rows) >= 5 and mean["sparsity"] >= 0.95 and gap <= 0.1
        return (f"{'met' if met else 'NOT met'} (sparsity {mean['sparsity']:.3f}, dense {mean['dense']:.2f} %, "
                f"pruned {mean['pruned']:.2f} %, gap {gap:.2f} points over {len(rows)} seeds)")
    return "no target"


def validation_gaps(runs: list[Path]) -> str:
    """Dense minus pruned accuracy on the validation split, per seed, with mean and range: how the
    recipe was compared with others before its one test measurement (a run trained on all
    training images has no validation figure and is left out)."""
    gaps = {}
    for run in runs:
        summary = json.loads((run / "summary.json").read_text())
        if summary["evaluated_on"] == "validation":
            # summaries written before the validation_* names call the same figure test_accuracy
            dense, pruned = (100 * summary[stage].get("validation_accuracy", summary[stage].get("test_accuracy"))
                             for stage in ("dense", "pruned"))
            gaps[summary["seed"]] = dense - pruned
    if len(gaps) < 2:
        return ""
    values = list(gaps.values())
    per_seed = ", ".join(f"seed {seed} {gap:+.2f}" for seed, gap in sorted(gaps.items()))
    return (f"validation gap (dense - pruned, points): {per_seed}; mean {statistics.mean(values):+.2f}, "
            f"range {max(values) - min(values):.2f}")


def main(folders: list[str]) -> None:
    print("| model | seed | method | sparsity | fewer weights | dense test acc (%) | pruned test acc (%) | "
          "file test acc (%) | C engine (%) | onnxruntime (%) | file bytes | smaller than fp32 | compact units |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    verdicts = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            continue
        runs = [folder] if (folder / "summary.json").exists() else sorted(
            p for p in folder.iterdir() if (p / "summary.json").exists())
        rows = [row(run) for run in runs]
        if not rows:
            continue
        for r in rows:
            print(f"| {r['model']} | {r['seed']} | {r['method']} | {r['sparsity']:.4f} | {r['fewer']:.1f}x | "
                  f"{r['dense']:.2f} | {r['pruned']:.2f} | {r['file']:.2f} | {r['c']} | {r['onnx']:.2f} | {r['bytes']:,} | "
                  f"{r['smaller']:.1f}x | {r['compact']} |")
        model = rows[0]["model"]
        name = folder.name.removeprefix("records-")
        if len({r["seed"] for r in rows}) == len(rows):  # one recipe over seeds: judged on the mean
            verdicts.append(f"- {name}: target {TARGETS.get(model, '-')}: {verdict(model, rows)}")
            gaps = validation_gaps(runs)
            verdicts += [f"  - {gaps}"] if gaps else []
        else:  # different recipes: each judged alone
            verdicts += [f"- {name}/{run.name}: target {TARGETS.get(model, '-')}: {verdict(model, [r])}"
                         for run, r in zip(runs, rows)]
    print()
    print("\n".join(verdicts))


if __name__ == "__main__":
    main(sys.argv[1:])
