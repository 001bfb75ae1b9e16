"""Weight sharing by 1-D k-means (Han, Mao & Dally 2016, section 3).

Each layer's surviving weights are clustered into at most ``k = 2**bits`` groups; every weight is
replaced by its group's centroid and stored as a ``bits``-bit code into a per-layer codebook. The
paper's three initialisations are offered (section 3.2): ``linear`` (evenly spaced between the
smallest and largest surviving weight; the paper's best, since it keeps the rare large weights),
``density`` (evenly spaced on the CDF: quantiles) and ``random`` (Forgy: k sampled weights).

Because the data are 1-D and centroids stay sorted, assignment is a binary search of each weight
among the midpoints between neighbouring centroids (O(n log k), no n x k distance matrix).

Departures from the paper, all small: pruned weights (mask False) take no part; when there are fewer
distinct surviving values than ``2**bits``, or an initialisation yields duplicate centroids (density
and random on tied data), the codebook is smaller than ``2**bits`` rather than carrying duplicates;
an empty cluster keeps its centroid; a weight exactly half-way between two centroids joins the lower.
Lloyd iterations stop early once no assignment changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from prunelab.errors import PrunelabError

if TYPE_CHECKING:
    import torch

MAX_CODE_BITS = 16
INITIALISATIONS = ("linear", "density", "random")


@dataclass(frozen=True, eq=False)
class Codebook:
    """A layer's shared weights: ``centroids`` (float32, shape (k,), k <= 2**bits) and code width."""

    centroids: np.ndarray
    bits: int

    def __post_init__(self):
        bits = self.bits
        if not isinstance(bits, (int, np.integer)) or isinstance(bits, bool) or not 1 <= bits <= MAX_CODE_BITS:
            raise PrunelabError(f"codebook bits must be an integer in 1..{MAX_CODE_BITS}, got {bits!r}")
        object.__setattr__(self, "bits", int(bits))
        centroids = self.centroids
        if not isinstance(centroids, np.ndarray) or centroids.dtype != np.float32 or centroids.ndim != 1:
            raise PrunelabError("codebook centroids must be a 1-D float32 array")
        if centroids.size > 2**self.bits:
            raise PrunelabError(f"{centroids.size} centroids do not fit {self.bits}-bit codes")
        if not np.isfinite(centroids).all():
            raise PrunelabError("codebook centroids must be finite")
        frozen = centroids.copy()
        frozen.flags.writeable = False
        object.__setattr__(self, "centroids", frozen)

    @property
    def size(self) -> int:
        return int(self.centroids.size)


def cluster(
    weights: np.ndarray,
    mask: np.ndarray,
    bits: int,
    init: str = "linear",
    iterations: int = 30,
    seed: int = 0,
) -> tuple[Codebook, np.ndarray]:
    """k-means over ``weights[mask]``; returns the codebook and int32 codes shaped like ``weights``.

    Codes are the index of the nearest centroid where ``mask`` is True and 0 elsewhere. The result
    depends only on the arguments (``seed`` matters for ``init="random"`` only).
    """
    weights, mask = _check_weights_and_mask(weights, mask)
    Codebook(np.zeros(0, dtype=np.float32), bits)  # validates ``bits`` early
    if init not in INITIALISATIONS:
        raise PrunelabError(f"unknown k-means initialisation {init!r} (choose from {', '.join(INITIALISATIONS)})")
    if not isinstance(iterations, int) or iterations < 0:
        raise PrunelabError(f"iterations must be a non-negative integer, got {iterations!r}")
    values = weights[mask].astype(np.float64)
    codes = np.zeros(weights.shape, dtype=np.int32)
    if values.size == 0:
        return Codebook(np.zeros(0, dtype=np.float32), bits), codes
    k = min(2**bits, np.unique(values).size)
    centroids = _lloyd(values, _initial_centroids(values, k, init, seed), iterations)
    centroids = np.unique(centroids.astype(np.float32))  # float32 rounding may merge neighbours
    codes[mask] = _nearest(values, centroids.astype(np.float64))
    return Codebook(centroids, bits), codes


def dequantize(codebook: Codebook, codes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """float32 weights: ``codebook.centroids[codes]`` where ``mask`` is True, 0.0 elsewhere."""
    codes, mask = np.asarray(codes), np.asarray(mask)
    if mask.dtype != bool or codes.shape != mask.shape or codes.dtype.kind not in "iu":
        raise PrunelabError("codes must be an integer array shaped like the boolean mask")
    kept = codes[mask]
    if kept.size and (kept.min() < 0 or kept.max() >= codebook.size):
        raise PrunelabError(f"a weight code refers to a centroid that does not exist (k={codebook.size})")
    weights = np.zeros(codes.shape, dtype=np.float32)
    weights[mask] = codebook.centroids[kept]
    return weights


def used_centroids(codebook: Codebook, codes: np.ndarray, mask: np.ndarray) -> tuple[Codebook, np.ndarray]:
    """The codebook without the centroids no surviving weight uses (k-means leaves empty clusters,
    many in sparse layers), in the same order, and the codes renumbered to it: ``dequantize`` gives
    exactly the same weights, and the file stores fewer centroids and code lengths."""
    codes, mask = np.asarray(codes), np.asarray(mask)
    dequantize(codebook, codes, mask)  # validates shapes, dtypes and code range
    used = np.unique(codes[mask])
    renumber = np.zeros(max(codebook.size, 1), dtype=np.int32)
    renumber[used] = np.arange(used.size, dtype=np.int32)
    renumbered = np.where(mask, renumber[np.where(mask, codes, 0)], 0).astype(np.int32)
    return Codebook(codebook.centroids[used], codebook.bits), renumbered


def centroid_gradients(grad: torch.Tensor, codes: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
    """Gradient of each of the ``k`` shared weights: the sum of its members' gradients (section 3.3).

    Pruned positions (``mask`` False) contribute nothing. Pure: the inputs are not modified.
    """
    import torch

    if grad.shape != codes.shape or grad.shape != mask.shape or mask.dtype != torch.bool:
        raise PrunelabError("grad, codes and a boolean mask must have the same shape")
    members = codes[mask].long()
    if members.numel() and (int(members.min()) < 0 or int(members.max()) >= k):
        raise PrunelabError(f"a weight code refers to a centroid that does not exist (k={k})")
    totals = torch.zeros(k, dtype=grad.dtype, device=grad.device)
    return totals.index_add(0, members.to(grad.device), grad.detach()[mask])


def _initial_centroids(values: np.ndarray, k: int, init: str, seed: int) -> np.ndarray:
    if init == "linear":
        centroids = np.linspace(values.min(), values.max(), k)
    elif init == "density":
        centroids = np.quantile(values, np.linspace(0.0, 1.0, k))
    else:
        chosen = np.random.default_rng(seed).choice(values.size, size=k, replace=False)
        centroids = values[chosen]
    return np.unique(centroids)


def _lloyd(values: np.ndarray, centroids: np.ndarray, iterations: int) -> np.ndarray:
    previous = None
    for _ in range(iterations):
        codes = _nearest(values, centroids)
        if previous is not None and np.array_equal(codes, previous):
            break
        counts = np.bincount(codes, minlength=centroids.size)
        sums = np.bincount(codes, weights=values, minlength=centroids.size)
        centroids = np.sort(np.where(counts > 0, sums / np.maximum(counts, 1), centroids))
        previous = codes
    return centroids


def _nearest(values: np.ndarray, sorted_centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid for every value (ties go to the lower centroid)."""
    midpoints = (sorted_centroids[:-1] + sorted_centroids[1:]) / 2
    return np.searchsorted(midpoints, values, side="left").astype(np.int32)


def _check_weights_and_mask(weights, mask) -> tuple[np.ndarray, np.ndarray]:
    weights, mask = np.asarray(weights), np.asarray(mask)
    if weights.dtype.kind != "f":
        raise PrunelabError("weights must be a floating-point array")
    if mask.dtype != bool or mask.shape != weights.shape:
        raise PrunelabError(f"mask must be boolean and shaped like the weights {weights.shape}")
    if not np.isfinite(weights[mask]).all():
        raise PrunelabError("surviving weights must be finite")
    return weights, mask
