"""Download the official .gz IDX files from the public mirrors, checked by MD5.

The MD5 values are those torchvision checks (torchvision/datasets/mnist.py, ``resources``).
MD5 is fine here: it guards against truncated or substituted downloads from a known
mirror, not against a deliberate collision.
"""

import hashlib
import urllib.error
import urllib.request

from prunelab.data.folder import IDX_FILES, decode_idx_set
from prunelab.data.splits import Splits
from prunelab.errors import PrunelabError

# Base URLs, tried in order; a file's URL is base + name.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
FASHION_MNIST_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
MIRRORS = {"mnist": MNIST_MIRRORS, "fashion-mnist": FASHION_MNIST_MIRRORS}

MD5S = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

# Seconds to wait for a connection or a read. Offline machines fail at name resolution at once.
TIMEOUT_S = 10
# The largest file is ~26 MB; refuse anything far bigger rather than fill memory.
MAX_BYTES = 64 * 1024 * 1024


def download(url: str, timeout: float = TIMEOUT_S) -> bytes:
    """GET one URL; every network problem becomes a PrunelabError so the caller moves on."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise PrunelabError(f"HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        raise PrunelabError(str(exc.reason)) from exc
    except (OSError, ValueError) as exc:  # timeouts, resets, malformed URLs
        raise PrunelabError(str(exc) or type(exc).__name__) from exc
    if len(data) > MAX_BYTES:
        raise PrunelabError(f"larger than {MAX_BYTES} bytes")
    return data


def download_checked(url: str, md5: str, timeout: float = TIMEOUT_S) -> bytes:
    data = download(url, timeout)
    actual = hashlib.md5(data).hexdigest()
    if actual != md5:
        raise PrunelabError(f"MD5 {actual} does not match the expected {md5}")
    return data


def fetch_from_mirrors(dataset: str, counts, mirrors=None, md5s=None, timeout: float = TIMEOUT_S):
    """Return ``(splits, mirrors used)``; each file is tried on each mirror in turn.

    Raises PrunelabError listing every mirror's failure for the first file no mirror could supply.
    """
    mirrors = MIRRORS[dataset] if mirrors is None else tuple(mirrors)
    md5s = MD5S[dataset] if md5s is None else md5s
    if not mirrors:
        raise PrunelabError("no mirrors configured")
    files, used = {}, []
    for base in IDX_FILES:
        name = f"{base}.gz"
        failures = []
        for mirror in mirrors:
            url = mirror + name
            try:
                files[base] = (url, download_checked(url, md5s[name], timeout))
            except PrunelabError as exc:
                failures.append(f"{url} ({exc})")
                continue
            if mirror not in used:
                used.append(mirror)
            break
        else:
            raise PrunelabError(", ".join(failures))
    splits: Splits = decode_idx_set(files, counts)
    return splits, used
