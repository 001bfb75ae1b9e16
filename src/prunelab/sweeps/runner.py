"""Execute a sweep's runs: here, one after the other, or in parallel worker processes.

Each run goes through the ordinary `pipeline.execute`, so a finished stage is reused and an
interrupted one resumes from its last epoch; the sweep adds only scheduling. Workers are spawned
(not forked: a forked torch with live threads can deadlock), each with cores // jobs torch
threads so that N workers do not fight over the same cores. Runs that need the same stage wait on
that stage's lock (pipeline.stage_lock) and then reuse it.
"""

import concurrent.futures as futures
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

from prunelab.foundations import wait_policy
from prunelab.runs import pipeline
from prunelab.sweeps.progress import Progress


@dataclass
class Outcome:
    jobs: int
    threads: int
    seconds: float = 0.0
    failed: dict = field(default_factory=dict)  # run index -> one-line error
    trained: set = field(default_factory=set)  # stage directories this sweep computed (not another process)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def choose_jobs(jobs: int | None, runs: int) -> int:
    return max(1, min(available_cores(), runs)) if jobs is None else jobs


def start_order(configs, runs_dir) -> list[int]:
    """Round-robin over dense models: the first wave of workers trains different dense models
    instead of queueing behind one lock."""
    seen: dict = {}
    places = []
    for index, config in enumerate(configs):
        dense = pipeline.stage_dir(config, runs_dir, "dense")
        places.append((seen.get(dense, 0), index))
        seen[dense] = seen.get(dense, 0) + 1
    return [index for _, index in sorted(places)]


def run_sweep(sweep, runs_dir, jobs: int | None = None, log=print, threads: int | None = None) -> Outcome:
    """`threads`: torch threads per run (default: the cores shared out among the jobs; give 1 when
    something else is using the cores too)."""
    jobs = choose_jobs(jobs, len(sweep.configs))
    outcome = Outcome(jobs=jobs, threads=threads or max(1, available_cores() // jobs))
    names = [pipeline.run_name(c) for c in sweep.configs]
    progress = Progress(names, log)
    began = time.perf_counter()
    order = start_order(sweep.configs, runs_dir)
    if jobs == 1:
        run_here(sweep, runs_dir, order, progress, outcome)
    else:
        run_parallel(sweep, runs_dir, order, progress, outcome)
    outcome.seconds = time.perf_counter() - began
    return outcome


def run_here(sweep, runs_dir, order, progress, outcome) -> None:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(outcome.threads)
    try:
        run_in_order(sweep, runs_dir, order, progress, outcome)
    finally:
        torch.set_num_threads(previous)


def run_in_order(sweep, runs_dir, order, progress, outcome) -> None:
    for index in order:
        try:
            result = pipeline.execute(sweep.configs[index], runs_dir, log=lambda m, i=index: progress.message(i, m),
                                      stop=sweep.stop)
        except Exception as exc:  # one bad run must not cost the others; KeyboardInterrupt stops all
            outcome.failed[index] = one_line(exc)
            progress.finish(index, outcome.failed[index])
        else:
            outcome.trained.update(result["trained"])
            progress.finish(index)


def run_parallel(sweep, runs_dir, order, progress, outcome) -> None:
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    with wait_policy.for_workers(outcome.threads, outcome.jobs), futures.ProcessPoolExecutor(
            outcome.jobs, mp_context=context, initializer=start_worker,
            initargs=(outcome.threads, messages, os.getpid())) as pool:
        pending = {pool.submit(work, i, sweep.configs[i], str(runs_dir), sweep.stop): i for i in order}
        try:
            while pending:
                done, _ = futures.wait(pending, timeout=0.2, return_when=futures.FIRST_COMPLETED)
                drain(messages, progress)
                for future in done:
                    index = pending.pop(future)
                    error = future.exception()
                    if error is not None:
                        outcome.failed[index] = one_line(error)
                    else:
                        outcome.trained.update(future.result())
                    progress.finish(index, outcome.failed.get(index))
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    drain(messages, progress)


def drain(messages, progress) -> None:
    while True:
        try:
            index, text = messages.get_nowait()
        except queue.Empty:
            return
        progress.message(index, text)


_messages = None  # the worker's end of the progress queue, set once per worker process


class _NotATerminal:
    """stderr for workers: progress bars from several processes would garble the terminal."""

    def __init__(self, stream):
        self.stream = stream

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name):
        return getattr(self.stream, name)


def die_with_parent(parent: int, interval: float = 0.5) -> None:
    """End this worker when the sweep process that started it goes, even by SIGKILL (which runs no
    clean-up there): Linux is asked for SIGKILL on the parent's death, and a watcher thread also
    polls for it (other systems, and a parent whose spawning thread ended early)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it went before the request was made
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def start_worker(threads: int, messages, parent: int | None = None) -> None:
    import torch

    global _messages
    if parent is not None:
        die_with_parent(parent)
    _messages = messages
    torch.set_num_threads(threads)
    sys.stderr = _NotATerminal(sys.stderr)


def work(index: int, config, runs_dir: str, stop: str) -> list[str]:
    """Run one; return the stage directories it computed."""
    return pipeline.execute(config, runs_dir, log=lambda m: _messages.put((index, m)), stop=stop)["trained"]


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
