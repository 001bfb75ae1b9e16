"""Pruning schedules: which sparsity to reach when."""

from prunelab.errors import PrunelabError
from prunelab.pruning.criteria import check_sparsity


def iterative_targets(final: float, rounds: int) -> list[float]:
    """Targets for `rounds` prune/retrain rounds, removing the same fraction of survivors each time.

    Density falls geometrically, (1 - final) ** (i / rounds), the way Han et al. prune
    iteratively; rounds=1 is one-shot pruning.
    """
    check_sparsity(final)
    if rounds < 1:
        raise PrunelabError(f"rounds must be at least 1, got {rounds}")
    return [round(1.0 - (1.0 - final) ** (i / rounds), 6) for i in range(1, rounds + 1)]


def agp_sparsity(step: int, final: float, begin: int, end: int, initial: float = 0.0) -> float:
    """Zhu & Gupta 2017, eq. (1): s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3.

    Here `begin` is t0 and `end` is t0 + n dt (in optimizer steps).
    """
    if step <= begin:
        return initial
    if step >= end:
        return final
    progress = (step - begin) / (end - begin)
    return final + (initial - final) * (1.0 - progress) ** 3
