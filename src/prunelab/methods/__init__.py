"""The pruning methods: a plain dict from a name to a ``Method`` (one module each). To add one, write
its module and add a line here (docs/extending.md)."""

from prunelab.errors import PrunelabError
from prunelab.methods import course, global_magnitude, magnitude, random_baseline, std, svd, svd_units
from prunelab.methods.base import Method

REGISTRY: dict[str, Method] = {
    "magnitude": magnitude.METHOD,
    "global": global_magnitude.METHOD,
    "std": std.METHOD,
    "course": course.METHOD,
    "svd": svd.METHOD,
    "svd-units": svd_units.METHOD,
    "random": random_baseline.METHOD,
}


def get(name: str) -> Method:
    if name not in REGISTRY:
        raise PrunelabError(f"unknown pruning method '{name}'; choose from {', '.join(REGISTRY)}")
    return REGISTRY[name]
