"""A node leaves the Ray cluster mid-sweep: its task runs again on the node left, resumes from the
checkpoint on the shared runs directory, and the sweep ends with the local executor's tables.

    python benchmarks/ray_node_loss.py [--runs 4] [--train-limit 3000] [--test-limit 1000]
                                       [--json results/ray-node-loss.json]

The cluster is two Ray nodes of one CPU each on this machine, made with ray.cluster_utils.Cluster
(Ray's own tool for its node-failure tests) under a private RAY_TMPDIR, so that any other Ray on
the machine is neither joined nor stopped. The sweep is the first `--runs` runs of
experiments/seed-paper.toml (seeds 0 and 1, sparsity 0 and 0.5 by default: two dense models,
each shared by two runs) on fewer images, one torch thread per run. As soon as a task on the
second node has checkpointed an epoch of its stage, that node is removed: every one of its
processes (raylet, object store, the worker running the task) is SIGKILLed, as when a machine
drops off the network. The script then checks that

- the sweep finishes with no run failed,
- the killed task started again on the head node and resumed after the checkpointed epoch,
- every stage's metrics.jsonl holds each of its epochs once,
- runs.csv and epochs.csv equal the local executor's on the same slice (one worker, one thread),
  apart from the timing and host columns,

prints the measurement as JSON and exits non-zero if any check failed.
"""

import argparse
import dataclasses
import json
import os
import platform
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

SWEEP = Path(__file__).resolve().parents[1] / "experiments" / "seed-paper.toml"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, seconds: float):
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return value


def sweep_on_ray_losing_a_node(plan, runs_dir: Path) -> dict:
    """Run the sweep on a two-node cluster, remove the second node mid-stage; what happened."""
    import ray
    from ray.cluster_utils import Cluster

    from prunelab.runs import pipeline
    from prunelab.sweeps.ray_executor import run_sweep_on_ray

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "gcs_server_port": free_port(),
                                                            "include_dashboard": False})
    try:
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        head_id, worker_id = cluster.head_node.node_id, worker.node_id
        lines, result = [], {}
        stamped = lambda line: lines.append((time.perf_counter(), line))  # noqa: E731
        began = time.perf_counter()
        sweep = threading.Thread(target=lambda: result.update(outcome=run_sweep_on_ray(plan, runs_dir, log=stamped)))
        sweep.start()

        def victim():  # (run name, stage dir) of a task on the second node with a checkpointed epoch
            for _, line in list(lines):
                if f"node {worker_id[:8]}," in line:
                    name = line.split("] ", 1)[1].split(":", 1)[0]
                    config = next(c for c in plan.configs if pipeline.run_name(c) == name)
                    for stage in ("dense", "pruned"):
                        directory = pipeline.stage_dir(config, runs_dir, stage)
                        if (directory / "checkpoint.pt").exists():
                            return name, directory
            return None

        found = wait_for(victim, 600)
        if not found:
            raise SystemExit("no task on the second node checkpointed an epoch")
        name, stage = found
        epochs_before = [row["epoch"] for row in read_rows(stage / "metrics.jsonl")]
        killed_at = time.perf_counter()
        cluster.remove_node(worker, allow_graceful=False)
        sweep.join()
        seconds = time.perf_counter() - began
        alive = [node["NodeID"] for node in ray.nodes() if node["Alive"]]
    finally:
        ray.shutdown()
        cluster.shutdown()
    mine = [(t, line.split("] ", 1)[1]) for t, line in lines if f"] {name}: " in line]
    starts = [(t, line) for t, line in mine if "started on" in line]
    restarted = [(t, line) for t, line in starts if t > killed_at]
    # what the head's one CPU did after the kill: a retried task queues behind the runs already waiting
    after_kill = [f"{t - killed_at:.1f} s: {line.split('] ', 1)[1]}" for t, line in lines
                  if t > killed_at and ("started on" in line or line.endswith(": finished"))]
    return {
        "outcome": result["outcome"], "seconds": seconds, "killed_run": name, "killed_stage": stage.name,
        "killed_after_seconds": round(killed_at - began, 1), "epochs_done_when_killed": epochs_before,
        "starts": [line.split(": ", 1)[1] for _, line in starts],
        "restarted_on_head": bool(restarted) and all(f"node {head_id[:8]}," in line for _, line in restarted),
        "seconds_to_restart": round(restarted[0][0] - killed_at, 1) if restarted else None,
        "starts_and_ends_after_the_kill": after_kill,
        "resumed": [line.split(": ", 1)[1] for t, line in mine if t > killed_at and "resuming after" in line],
        "nodes_ray_still_listed_alive_at_the_end": len(alive),  # the GCS notices a dead node by health checks, later
    }


def read_rows(path):
    from prunelab.training.metrics import read_rows as rows

    return rows(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--train-limit", type=int, default=3000)
    parser.add_argument("--test-limit", type=int, default=1000)
    parser.add_argument("--json", help="write the measurement here")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="prunelab-node-loss-"))
    os.environ["RAY_TMPDIR"] = str(scratch / "ray")  # Ray's sessions and its address file: ours alone
    (scratch / "ray").mkdir()

    import torch

    from prunelab.runs import pipeline
    from prunelab.sweeps.collect import collect
    from prunelab.sweeps.manifest import sweep_run_dirs
    from prunelab.sweeps.runner import run_sweep
    from prunelab.sweeps.spec import load_sweep
    from ray_cluster import comparable  # the other Ray benchmark, beside this file

    torch.set_num_threads(1)
    plan = load_sweep(SWEEP, {"data.train_limit": str(args.train_limit), "data.test_limit": str(args.test_limit)})
    plan = dataclasses.replace(plan, configs=plan.configs[:args.runs])
    load_before = os.getloadavg()[0]
    try:
        began = time.perf_counter()
        local = run_sweep(plan, scratch / "local", 1, log=lambda message: None, threads=1)
        local_seconds = time.perf_counter() - began
        on_ray = sweep_on_ray_losing_a_node(plan, scratch / "ray-runs")
        tables = {}
        for side in ("local", "ray-runs"):
            written = collect(sweep_run_dirs(plan, scratch / side), plan.stop, scratch / side / "tables")
            tables[side] = {t: comparable(written[t].read_text()) for t in ("runs", "epochs")}
        stages = {pipeline.stage_dir(c, scratch / "ray-runs", s) for c in plan.configs for s in ("dense", "pruned")}
        once = all(len(e := [r["epoch"] for r in read_rows(d / "metrics.jsonl")]) == len(set(e)) for d in stages)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    outcome = on_ray.pop("outcome")
    checks = {
        "no_run_failed": not outcome.failed and not local.failed,
        "killed_task_restarted_on_the_head_node": on_ray["restarted_on_head"],
        "resumed_from_the_checkpoint": bool(on_ray["resumed"]),
        "each_epoch_recorded_once": once,
        "tables_equal_the_local_executors": tables["local"] == tables["ray-runs"],
    }
    result = {
        "command": "python benchmarks/ray_node_loss.py " + " ".join(sys.argv[1:]),
        "sweep": f"experiments/seed-paper.toml, its first {args.runs} runs, on {args.train_limit} training "
                 f"and {args.test_limit} test images, one torch thread per run",
        "cluster": "2 Ray nodes of 1 CPU on this machine (ray.cluster_utils.Cluster); the second removed "
                   "(all its processes SIGKILLed) once a task on it had checkpointed an epoch",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_1min": {"before": round(load_before, 1), "after": round(os.getloadavg()[0], 1)},
        "local": {"workers": 1, "seconds": round(local_seconds, 1)},
        "ray": {**on_ray, "seconds": round(on_ray["seconds"], 1)},
        "rows": {"runs": len(tables["local"]["runs"]) - 1, "epochs": len(tables["local"]["epochs"]) - 1},
        "checks": checks,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
