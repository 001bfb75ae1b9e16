"""Helpers for the data tests: tiny synthetic datasets written as IDX files.

Named data_helpers (not helpers) because test folders share one import namespace.
"""

import gzip

import numpy as np

from prunelab.data.idx import encode_idx
from prunelab.data.splits import Splits

SMALL_COUNTS = (100, 20)
IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def random_splits(counts=SMALL_COUNTS, seed=0) -> Splits:
    rng = np.random.default_rng(seed)
    n_train, n_test = counts
    return Splits(
        train_images=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        train_labels=rng.integers(0, 10, n_train, dtype=np.uint8),
        test_images=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        test_labels=rng.integers(0, 10, n_test, dtype=np.uint8),
    )


def idx_files(splits: Splits, gz: bool) -> dict[str, bytes]:
    """File name -> contents of the four IDX files holding ``splits``."""
    arrays = (splits.train_images, splits.train_labels, splits.test_images, splits.test_labels)
    files = {}
    for base, array in zip(IDX_NAMES, arrays):
        data = encode_idx(array)
        files[base + ".gz" if gz else base] = gzip.compress(data) if gz else data
    return files


def write_idx_folder(folder, splits: Splits, gz: bool = False):
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, data in idx_files(splits, gz).items():
        (folder / file_name).write_bytes(data)
    return folder


def assert_same(a: Splits, b: Splits) -> None:
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert getattr(b, field).dtype == np.uint8
