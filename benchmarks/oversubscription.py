"""Training steps on two torch threads while other processes use the cores: OpenMP threads that
spin while waiting (the default) against passive waiting (what `import prunelab` sets).

    python benchmarks/oversubscription.py [--steps 40] [--repeats 2] [--json OUT]

Each measurement runs in a fresh process (the wait policy is read once, when torch loads): 40 SGD
steps of LeNet-5 on a batch of 128. "spinning": torch imported before prunelab, OMP_WAIT_POLICY
unset; "passive": OMP_WAIT_POLICY=PASSIVE; "through prunelab": prunelab imported first, nothing
set. Run it while the machine is busy (here: other test suites on the same 2 cores), and once on
an idle machine to see that passive waiting costs little there.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

STEPS = """
import sys, time
{first}
import torch, torch.nn.functional as F
from prunelab import models
torch.set_num_threads(2)
torch.manual_seed(0)
model = models.build("lenet5")
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
x, y = torch.rand(128, 1, 28, 28), torch.randint(0, 10, (128,))
for step in range(3 + {steps}):
    if step == 3:
        began = time.perf_counter()
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
print(time.perf_counter() - began)
"""

CASES = {"spinning": ("import torch", None), "passive": ("import torch", "PASSIVE"),
         "through prunelab": ("import prunelab", None)}


def measure(first: str, policy: str | None, steps: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    code = STEPS.format(first=first, steps=steps)
    return float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True).stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    seconds = {name: [] for name in CASES}
    load = os.getloadavg()[0]
    for _ in range(args.repeats):  # interleaved, so changes in the load hit every case alike
        for name, (first, policy) in CASES.items():
            seconds[name].append(round(measure(first, policy, args.steps), 2))
    result = {"steps": args.steps, "cpus": os.cpu_count(), "load_average_at_start": round(load, 2),
              "seconds": seconds, "median": {n: statistics.median(s) for n, s in seconds.items()}}
    for name, median in result["median"].items():
        print(f"{name:>16}: {median:6.2f} s for {args.steps} steps (runs: {seconds[name]})")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
