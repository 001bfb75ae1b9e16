"""A user's own dataset: an ``.npz`` with x_train, y_train, x_test, y_test (``--dataset npz:PATH``).

Images may be (N, H, W) or (N, C, H, W) of any size, or (N, features); uint8 pixels are divided
by 255 for training as MNIST's are, float32 values are used as they are. Labels are class indices
0..K-1 (K at most 256); K is the number of distinct labels' maximum plus one.
"""

import zipfile
from pathlib import Path

import numpy as np

from prunelab.data.splits import Splits
from prunelab.errors import PrunelabError

PREFIX = "npz:"
KEYS = ("x_train", "y_train", "x_test", "y_test")


def is_npz(dataset: str) -> bool:
    return dataset.startswith(PREFIX)


def npz_path(dataset: str) -> Path:
    path = Path(dataset[len(PREFIX):]).expanduser()
    if not path.is_file():
        raise PrunelabError(f"dataset file {path} does not exist (--dataset npz:PATH names an .npz file)")
    return path


def load_npz(dataset: str) -> Splits:
    path = npz_path(dataset)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in KEYS if k not in archive.files]
            if missing:
                raise PrunelabError(f"{path} lacks {', '.join(missing)} (it needs {', '.join(KEYS)})")
            x_train, y_train, x_test, y_test = (archive[k] for k in KEYS)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise PrunelabError(f"{path} is not a readable .npz: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    labels = [_labels(path, name, y) for name, y in (("y_train", y_train), ("y_test", y_test))]
    classes = int(max(int(y.max(initial=0)) for y in labels)) + 1
    images = [_images(path, name, x) for name, x in (("x_train", x_train), ("x_test", x_test))]
    if images[0].shape[1:] != images[1].shape[1:]:
        raise PrunelabError(f"{path}: x_train images are {images[0].shape[1:]}, x_test's {images[1].shape[1:]}")
    return Splits(images[0], labels[0], images[1], labels[1], image_shape=None, classes=classes)


def input_shape(dataset: str) -> tuple[int, ...]:
    """(C, H, W) or (features,) of one example as the models see it."""
    with np.load(npz_path(dataset), allow_pickle=False) as archive:
        shape = tuple(int(v) for v in archive["x_test"].shape[1:])
    return (1, *shape) if len(shape) == 2 else shape


def _images(path, name, x) -> np.ndarray:
    if x.dtype not in (np.uint8, np.float32) or x.ndim not in (2, 3, 4) or not len(x):
        raise PrunelabError(f"{path}: {name} must be uint8 or float32 of shape (N, H, W), (N, C, H, W) or "
                            f"(N, features) with N > 0, got {x.dtype} {x.shape}")
    if x.dtype == np.float32 and not np.isfinite(x).all():
        raise PrunelabError(f"{path}: {name} holds NaN or infinite values")
    return np.ascontiguousarray(x)


def _labels(path, name, y) -> np.ndarray:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y.size and (y.min() < 0 or y.max() > 255)):
        raise PrunelabError(f"{path}: {name} must be integer class indices 0..255 of shape (N,), got {y.dtype} {y.shape}")
    return y.astype(np.uint8)
