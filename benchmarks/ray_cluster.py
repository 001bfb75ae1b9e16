"""A slice of the course project's sweep on the local executor and on a two-node Ray cluster.

    python benchmarks/ray_cluster.py [--runs 6] [--train-limit 6000] [--test-limit 2000]
                                     [--cpus-per-node 1] [--json results/ray-cluster.json]

The slice is the first `--runs` runs of experiments/seed-paper.toml (by default sparsity 0 and 0.5
for seeds 0, 1, 2: three dense models, each shared by two runs) on fewer images, so that it fits
a shared 2-core machine. The cluster is two Ray nodes on this machine (`ray start --head` and a
second `ray start --address=...`, each with `--cpus-per-node` CPUs); the local executor gets the
same number of worker processes. Both give each run one torch thread, so their tables must be
equal bit for bit apart from the timing and host columns; the script checks that and prints the
wall times. It runs `ray stop` at the end, which stops every Ray process of this user here.
"""

import argparse
import csv
import dataclasses
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prunelab.sweeps.collect import collect
from prunelab.sweeps.manifest import sweep_run_dirs
from prunelab.sweeps.ray_executor import run_sweep_on_ray
from prunelab.sweeps.runner import run_sweep
from prunelab.sweeps.spec import load_sweep

SWEEP = Path(__file__).resolve().parents[1] / "experiments" / "seed-paper.toml"
PORT = 6391  # not Ray's default, so an existing cluster on 6379 is left alone


def comparable(text: str) -> list[list[str]]:
    """CSV rows without the columns that may differ between executors: timings and hosts."""
    rows = list(csv.reader(io.StringIO(text)))
    keep = [i for i, name in enumerate(rows[0]) if "seconds" not in name and not name.endswith("_host")]
    return [[row[i] for i in keep] for row in rows]


def timed_tables(execute, plan, runs_dir: Path) -> tuple[float, dict, object]:
    began = time.perf_counter()
    outcome = execute(plan, runs_dir)
    seconds = time.perf_counter() - began
    tables = collect(sweep_run_dirs(plan, runs_dir), plan.stop, runs_dir / "tables")
    assert not outcome.failed, outcome.failed
    return seconds, {name: comparable(tables[name].read_text()) for name in ("runs", "epochs")}, outcome


def ray(*args: str) -> None:
    """The `ray` command beside this Python. Ray 2.60 makes the head generate an auth token
    (~/.ray/auth_token) but a joining node only sends it with RAY_AUTH_MODE=token, set in main."""
    ray_cli = Path(sys.executable).with_name("ray")
    done = subprocess.run([str(ray_cli), *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"ray {' '.join(args)} failed:\n{done.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--train-limit", type=int, default=6000)
    parser.add_argument("--test-limit", type=int, default=2000)
    parser.add_argument("--cpus-per-node", type=int, default=1)
    parser.add_argument("--json", help="write the measurement here")
    args = parser.parse_args()
    plan = load_sweep(SWEEP, {"data.train_limit": str(args.train_limit), "data.test_limit": str(args.test_limit)})
    plan = dataclasses.replace(plan, configs=plan.configs[:args.runs])
    workers = 2 * args.cpus_per_node
    os.environ["RAY_AUTH_MODE"] = "token"  # for both `ray start`s and for this driver
    small_store = "--object-store-memory=100000000"  # nothing but log lines travels through it
    quiet = lambda message: None  # noqa: E731
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        local_s, local, _ = timed_tables(lambda p, d: run_sweep(p, d, workers, log=quiet, threads=1), plan, scratch / "local")
        ray("start", "--head", f"--port={PORT}", f"--num-cpus={args.cpus_per_node}", small_store,
                "--include-dashboard=false")
        try:
            ray("start", f"--address=127.0.0.1:{PORT}", f"--num-cpus={args.cpus_per_node}", small_store)
            ray_s, on_ray, outcome = timed_tables(
                lambda p, d: run_sweep_on_ray(p, d, f"127.0.0.1:{PORT}", threads=1, log=quiet), plan, scratch / "ray")
        finally:
            ray("stop")
    result = {
        "command": "python benchmarks/ray_cluster.py " + " ".join(sys.argv[1:]),
        "sweep": f"experiments/seed-paper.toml, its first {args.runs} runs, on {args.train_limit} training "
                 f"and {args.test_limit} test images",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_1min": {"before": round(load_before, 1), "after": round(os.getloadavg()[0], 1)},
        "local": {"workers": workers, "threads_per_run": 1, "seconds": round(local_s, 1)},
        "ray": {"nodes": outcome.nodes, "cpus": outcome.cpus, "threads_per_run": 1, "seconds": round(ray_s, 1),
                "sweep_seconds": round(outcome.seconds, 1)},
        "tables_equal": local == on_ray,
        "rows": {"runs": len(local["runs"]) - 1, "epochs": len(local["epochs"]) - 1},
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
