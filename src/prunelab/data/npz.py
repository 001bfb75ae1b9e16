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


MAX_DEFLATE_RATIO = 1032  # DEFLATE's largest expansion: a member cannot honestly hold more per byte stored


def check_members(path: Path) -> None:
    """Before any array is read: the file is a zip (not a plain .npy), and each member's declared
    shape and dtype fit the bytes the member holds (a header may claim 9 GiB in a few bytes)."""
    if not zipfile.is_zipfile(path):
        raise PrunelabError(f"{path} is not an .npz (a zip of .npy arrays); save it with numpy.savez")
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if member.file_size > MAX_DEFLATE_RATIO * member.compress_size + 4096:
                    raise PrunelabError(f"{path}: {member.filename} claims {member.file_size:,} bytes in "
                                        f"{member.compress_size:,}, more than compression can hold")
                with archive.open(member) as handle:
                    version = np.lib.format.read_magic(handle)
                    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                                   (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                    if read_header is None:
                        raise PrunelabError(f"{path}: {member.filename} has .npy format version {version}")
                    shape, _, dtype = read_header(handle)
                    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
                    if declared > member.file_size:
                        raise PrunelabError(f"{path}: {member.filename} declares {declared:,} bytes of data "
                                            f"but holds {member.file_size:,}")
    except PrunelabError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise PrunelabError(f"{path} is not a readable .npz: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def load_npz(dataset: str) -> Splits:
    path = npz_path(dataset)
    check_members(path)
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
    path = npz_path(dataset)
    check_members(path)
    with np.load(path, allow_pickle=False) as archive:
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
