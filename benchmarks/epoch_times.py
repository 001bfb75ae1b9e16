"""Median training seconds per epoch of each run in a sweep (its pruned stage's metrics.jsonl).

    python3 benchmarks/epoch_times.py RUNS_DIR/sweeps/NAME [--json OUT]
"""

import argparse
import json
import statistics
import tomllib
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--json")
    args = parser.parse_args()
    manifest = json.loads((args.sweep / "sweep.json").read_text())
    rows = []
    for run in manifest["runs"]:
        folder = (args.sweep / run).resolve()
        config = tomllib.loads((folder / "config.toml").read_text())
        epochs = [json.loads(line) for line in (folder / "pruned" / "metrics.jsonl").read_text().splitlines()]
        seconds = [e["train_seconds"] for e in epochs]
        model, method = config["model"], config["prune"]["method"]
        rows.append({"run": folder.name, "model": model, "method": method, "epochs": len(seconds),
                     "train_seconds": seconds, "median": statistics.median(seconds)})
        print(f"{model} {method}: median {statistics.median(seconds):.1f} s an epoch over {len(seconds)} "
              f"({', '.join(f'{s:.1f}' for s in seconds)})")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
