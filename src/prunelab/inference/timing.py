"""Wall-clock timing of several callables in interleaved rounds, for noisy shared machines."""

import time

import torch


def time_interleaved(calls: dict, repeats: int, min_seconds: float = 0.0,
                     max_seconds: float | None = None) -> dict[str, list[float]]:
    """Seconds per call of each callable, one sample per round; take the median.

    Every round calls each once, in reverse order every other round, so a burst of load from
    other processes lands on all of them alike and none always runs right after the same
    neighbour. `repeats` rounds; more (up to 10 x repeats) while under `min_seconds`, so fast
    calls still get enough samples; fewer (but 3) once past `max_seconds`, so a loaded machine
    cannot make a run take minutes. One warm-up call each first (allocation, dispatch).
    """
    names = list(calls)
    samples = {name: [] for name in names}
    with torch.no_grad():
        for name in names:
            calls[name]()
        start, rounds = time.perf_counter(), 0
        while wants_more(rounds, time.perf_counter() - start, repeats, min_seconds, max_seconds):
            for name in names if rounds % 2 == 0 else reversed(names):
                began = time.perf_counter()
                calls[name]()
                samples[name].append(time.perf_counter() - began)
            rounds += 1
    return samples


def wants_more(rounds: int, elapsed: float, repeats: int, min_seconds: float, max_seconds: float | None) -> bool:
    if max_seconds is not None and elapsed >= max_seconds and rounds >= min(3, repeats):
        return False
    return rounds < repeats or (elapsed < min_seconds and rounds < 10 * repeats)
