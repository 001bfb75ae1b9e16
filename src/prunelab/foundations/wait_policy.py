"""How torch's OpenMP threads wait for work between parallel regions: spinning or asleep.

Spinning (the runtime's default, for a while after each region) wakes a waiting thread within
microseconds; on a quiet machine batch-1 inference of LeNet-5-Caffe on two threads took 0.240 ms
spinning and 1.009 ms waiting passively (results/c-engine-bench.json, -passive.json). But a spinning
thread holds its core: where a process's threads outnumber the cores left to them, by other programs
or by a sweep's own workers, the spinners take the time the working threads need, and 40 training
steps took 25 s instead of 0.9 s (benchmarks/oversubscription.py, results/oversubscription.json).
The rule, `choose`:

- one torch thread per process: nothing to decide (no OpenMP thread ever waits), the default;
- processes x threads + cores busy with other work > usable cores: PASSIVE;
- otherwise the default.

A user's own OMP_WAIT_POLICY is always kept. The OpenMP runtime reads the variable once, when torch
is loaded, so `decide` must run before that: `import prunelab` decides for torch's defaults (threads
from OMP_NUM_THREADS or the cores, one process), the command line again once it knows --threads and
--jobs (nothing it imports before loads torch), and a sweep for the workers it spawns, which inherit
the environment. CHOSEN records what prunelab set, so a later decision can tell it from the user's.
"""

import contextlib
import math
import os
import sys
import time

VARIABLE = "OMP_WAIT_POLICY"
CHOSEN = "PRUNELAB_CHOSEN_OMP_WAIT_POLICY"  # the value prunelab set ("" for the default)
PASSIVE = "PASSIVE"


def choose(threads: int, processes: int, cores: int, busy: int) -> str | None:
    """PASSIVE where waiting threads would spin on cores that other threads need, else None (the
    runtime's default). `busy`: cores already taken by other work when the decision is made."""
    if threads <= 1:
        return None
    return PASSIVE if processes * threads + busy > cores else None


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads(environ) -> int:
    """The intra-op threads torch will start with: OMP_NUM_THREADS, else about the cores."""
    try:
        return max(1, int(environ.get("OMP_NUM_THREADS", "").split(",")[0]))
    except ValueError:
        return usable_cores()


def busy_cores(samples: int = 3, interval: float = 0.005) -> int:
    """Threads of other processes ready to run now (Linux: /proc/loadavg's running count, less the
    reader), the least of a few samples so that a passing process does not count; elsewhere the
    one-minute load average."""
    try:
        counts = []
        for index in range(samples):
            if index:
                time.sleep(interval)
            with open("/proc/loadavg") as handle:
                counts.append(int(handle.read().split()[3].split("/")[0]) - 1)
        return max(0, min(counts))
    except (OSError, ValueError, IndexError):
        try:
            return math.floor(os.getloadavg()[0])
        except (OSError, AttributeError):
            return 0


def users_choice(environ) -> bool:
    return VARIABLE in environ and environ.get(CHOSEN) != environ[VARIABLE]


def decide(threads: int | None = None, processes: int = 1, environ=None, cores: int | None = None,
           busy: int | None = None, workers: bool = False) -> str | None:
    """Apply the rule to `environ` (os.environ) unless the user chose a policy; return the policy in
    force there. For this process (`workers` False) only while torch is not loaded, since later it
    could change nothing here; for the worker processes it is about to start (True) at any time."""
    environ = os.environ if environ is None else environ
    if users_choice(environ) or (not workers and "torch" in sys.modules):
        return environ.get(VARIABLE)
    policy = choose(threads or default_threads(environ), processes, usable_cores() if cores is None else cores,
                    busy_cores() if busy is None else busy)
    if policy:
        environ[VARIABLE] = policy
    else:
        environ.pop(VARIABLE, None)
    environ[CHOSEN] = policy or ""
    return policy


@contextlib.contextmanager
def for_workers(threads: int, processes: int):
    """While the block starts `processes` workers of `threads` torch threads each: the policy they
    inherit through the environment. This process's own environment is restored afterwards."""
    saved = {name: os.environ.get(name) for name in (VARIABLE, CHOSEN)}
    try:
        yield decide(threads, processes, workers=True)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def decide_at_import() -> None:
    """`import prunelab`: decide for torch's defaults, unless torch is loaded already (too late) or
    a policy is in force (the user's, or one a prunelab process chose for the workers it started)."""
    if VARIABLE not in os.environ and CHOSEN not in os.environ:
        decide()
