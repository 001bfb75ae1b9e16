"""Two sweeps, and two collections, over the same runs directory at once: do both finish, with a
whole table and true counts? (Issue 13: a fixed temporary file name gave `disk I/O error`
tracebacks and 0-row tables, and both sweeps claimed every stage as "trained now".)

    python benchmarks/concurrent_sweeps.py [--sweep-pairs 3] [--collect-pairs 15] [--json OUT]

Each sweep pair starts `prunelab sweep` twice, half a second apart, on a fresh runs directory (a
2-run sweep on 200 images); each collection pair starts `prunelab sweep --collect-only` twice at
the same moment. A pair is good when both exit 0 without a traceback, the table holds every run,
and the "trained now" counts of the two add up to the stages that exist.
"""

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWEEP = """
stop = "pruned"
[base]
data.train_limit = 200
data.test_limit = 100
train.epochs = 1
train.batch_size = 32
prune.epochs = 1
prune.schedule = "oneshot"
[grid]
"prune.sparsity" = [0.5, 0.9]
"""


def start(sweep: Path, runs: Path, *extra) -> subprocess.Popen:
    command = [sys.executable, "-m", "prunelab", "sweep", str(sweep), "--runs-dir", str(runs), "--jobs", "1",
               "--threads", "1", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=600)
    trained = [int(n) for n in re.findall(r"\((\d+) trained now", out)]
    return {"code": process.returncode, "traceback": "Traceback" in err, "trained": sum(trained)}


def table_rows(runs: Path) -> int | None:
    """Finished runs in the table; None when the database is missing or damaged."""
    try:
        with sqlite3.connect(next((runs / "sweeps").iterdir()) / "results.sqlite") as db:
            return db.execute("SELECT COUNT(*) FROM runs WHERE status = 'finished'").fetchone()[0]
    except (sqlite3.Error, StopIteration, OSError):
        return None


def sweep_pair(sweep: Path, runs: Path) -> dict:
    first = start(sweep, runs)
    time.sleep(0.5)
    second = start(sweep, runs)
    results = [finish(first), finish(second)]
    stages = len([d for d in (runs / "stages").iterdir() if d.is_dir()])
    good = all(r["code"] == 0 and not r["traceback"] for r in results) and table_rows(runs) == 2 \
        and sum(r["trained"] for r in results) == stages
    return {"results": results, "stages": stages, "rows": table_rows(runs), "good": good}


def collect_pair(sweep: Path, runs: Path) -> dict:
    pair = [start(sweep, runs, "--collect-only"), start(sweep, runs, "--collect-only")]
    results = [finish(p) for p in pair]
    good = all(r["code"] == 0 and not r["traceback"] for r in results) and table_rows(runs) == 2
    return {"results": results, "rows": table_rows(runs), "good": good}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep-pairs", type=int, default=3)
    parser.add_argument("--collect-pairs", type=int, default=15)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        sweep = Path(folder) / "pair.toml"
        sweep.write_text(SWEEP)
        sweeps = [sweep_pair(sweep, Path(folder) / f"runs{i}") for i in range(args.sweep_pairs)]
        collections = [collect_pair(sweep, Path(folder) / "runs0") for _ in range(args.collect_pairs)]
    summary = {"sweep_pairs": len(sweeps), "sweep_pairs_good": sum(p["good"] for p in sweeps),
               "collect_pairs": len(collections), "collect_pairs_good": sum(p["good"] for p in collections),
               "cpus": os.cpu_count(), "sweeps": sweeps, "collections": collections}
    print(f"sweep pairs: {summary['sweep_pairs_good']} of {summary['sweep_pairs']} good; "
          f"collection pairs: {summary['collect_pairs_good']} of {summary['collect_pairs']} good")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
