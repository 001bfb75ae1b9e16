"""Torch threads that spin while waiting for work (the OpenMP runtime's default) against passive
waiting, and what `import prunelab` chooses (foundations/wait_policy.py), each in a fresh process.

    python benchmarks/oversubscription.py [--workload train|latency] [--threads 2] [--repeats 2] [--json OUT]

train: 40 SGD steps of LeNet-5 on a batch of 128. latency: 300 forward passes of LeNet-5-Caffe on
one image (what `prunelab bench` times at batch 1). Cases: "spinning": torch imported before
prunelab, OMP_WAIT_POLICY unset; "passive": OMP_WAIT_POLICY=PASSIVE; "through prunelab": prunelab
imported first, nothing set (the policy it chose is recorded). The wait policy is read once, when
torch loads, hence one process per measurement. Run it once on a busy machine (other processes on
the cores: spinning is the disaster there) and once on an idle one (passive waiting costs there).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

WORKLOADS = {
    "train": """
import torch.nn.functional as F
model = models.build("lenet5")
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
x, y = torch.rand(128, 1, 28, 28), torch.randint(0, 10, (128,))
def step():
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
warmup, count = 3, 40
""",
    "latency": """
model = models.build("lenet5-caffe").eval()
x = torch.rand(1, 1, 28, 28)
def step():
    with torch.no_grad():
        model(x)
warmup, count = 30, 300
""",
}

PROGRAM = """
import os, time
{first}
import torch
from prunelab import models
torch.set_num_threads({threads})
torch.manual_seed(0)
{workload}
for _ in range(warmup):
    step()
began = time.perf_counter()
for _ in range(count):
    step()
print(time.perf_counter() - began, os.environ.get("OMP_WAIT_POLICY"))
"""

CASES = {"spinning": ("import torch", None), "passive": ("import torch", "PASSIVE"),
         "through prunelab": ("import prunelab", None)}


def measure(workload: str, first: str, policy: str | None, threads: int) -> tuple[float, str]:
    """(seconds for the workload's steps, the OMP_WAIT_POLICY the process ran with)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "PRUNELAB_CHOSEN_OMP_WAIT_POLICY")}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    code = PROGRAM.format(first=first, threads=threads, workload=WORKLOADS[workload])
    seconds, used = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                   check=True).stdout.split()
    return float(seconds), used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="train")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    from prunelab.foundations.wait_policy import busy_cores

    seconds, used = {name: [] for name in CASES}, {}
    load, busy = os.getloadavg()[0], busy_cores()
    for _ in range(args.repeats):  # interleaved, so changes in the load hit every case alike
        for name, (first, policy) in CASES.items():
            value, used[name] = measure(args.workload, first, policy, args.threads)
            seconds[name].append(round(value, 3))
    result = {"command": "python benchmarks/oversubscription.py " + " ".join(sys.argv[1:]),
              "workload": args.workload, "threads": args.threads, "cpus": os.cpu_count(),
              "load_average_at_start": round(load, 2), "busy_cores_at_start": busy,
              "policy": used, "seconds": seconds, "median": {n: statistics.median(s) for n, s in seconds.items()}}
    for name, median in result["median"].items():
        print(f"{name:>16}: {median:7.3f} s (policy {used[name]}; runs: {seconds[name]})")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
