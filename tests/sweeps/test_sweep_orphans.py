"""A sweep's worker processes end when the sweep is killed (SIGKILL: nothing runs in the parent)."""

import os
import signal
import subprocess
import sys
import time

PARENT = """
import concurrent.futures as futures, multiprocessing, os, sys, time
from prunelab.sweeps.runner import start_worker

if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    pool = futures.ProcessPoolExecutor(1, mp_context=context, initializer=start_worker,
                                       initargs=(1, context.Queue(), os.getpid()))
    print(pool.submit(os.getpid).result(), flush=True)
    pool.submit(time.sleep, 600)
    time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for init to reap it has ended too
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except OSError:
        return True


def test_workers_die_with_a_killed_parent(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    worker = int(parent.stdout.readline())
    assert alive(worker)
    parent.send_signal(signal.SIGKILL)
    parent.wait(30)
    deadline = time.monotonic() + 20
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive(worker):
        os.kill(worker, signal.SIGKILL)  # leave nothing behind, then fail
        raise AssertionError("the worker outlived its killed parent")
