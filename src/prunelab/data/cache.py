"""The local cache: one compressed .npz per split, so a fetched dataset loads in about a second.

Layout: ``<cache root>/<dataset>/train.npz`` and ``test.npz``, each holding the arrays
``images`` (N, 28, 28) uint8 and ``labels`` (N,) uint8. Files are written atomically
(temp file, then rename), so an interrupted fetch never leaves half a file behind, and read
with ``allow_pickle=False``, so a cache file cannot run code.
"""

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from prunelab.data.splits import Splits
from prunelab.errors import PrunelabError
from prunelab.foundations.files import atomic_open

ENV_VAR = "PRUNELAB_DATA_DIR"
SPLIT_NAMES = ("train", "test")
ARRAY_NAMES = {"images", "labels"}


def default_cache_dir() -> Path:
    """``$PRUNELAB_DATA_DIR`` if set, else ``~/.cache/prunelab/datasets``."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "prunelab" / "datasets"


def cache_files(folder: Path) -> tuple[Path, Path]:
    """The train and test files of one dataset's cache folder."""
    return tuple(Path(folder) / f"{split}.npz" for split in SPLIT_NAMES)


def is_cached(folder: Path) -> bool:
    return all(path.is_file() for path in cache_files(folder))


def save_cache(folder: Path, splits: Splits) -> tuple[Path, Path]:
    """Write both splits; the test file goes last, so a complete pair means a complete fetch."""
    train_path, test_path = cache_files(folder)
    _save_split(train_path, splits.train_images, splits.train_labels)
    _save_split(test_path, splits.test_images, splits.test_labels)
    return train_path, test_path


def load_cache(folder: Path, counts: tuple[int, int]) -> Splits:
    """Read and validate both splits; any damage is an error, never a silent re-download."""
    train_path, test_path = cache_files(folder)
    train_images, train_labels = _load_split(train_path)
    test_images, test_labels = _load_split(test_path)
    try:
        splits = Splits(train_images, train_labels, test_images, test_labels)
        splits.check_counts(counts, f"cache {folder}")
    except PrunelabError as exc:
        raise PrunelabError(f"{exc}; the cache is corrupt: delete {folder} and fetch again") from exc
    return splits


def _save_split(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    with atomic_open(path, "wb") as handle:
        np.savez_compressed(handle, images=images, labels=labels)


def _load_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if set(archive.files) != ARRAY_NAMES:
                raise ValueError(f"holds arrays {sorted(archive.files)}, expected images and labels")
            return archive["images"], archive["labels"]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise PrunelabError(f"cache file {path} is corrupt ({exc}); delete it and fetch again") from exc
