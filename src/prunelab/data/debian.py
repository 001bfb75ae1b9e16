"""Fashion-MNIST from the Debian package ``dataset-fashion-mnist``.

The package installs the four official IDX files as .gz, but recompressed, so their MD5
differs from the one the mirrors publish; the unpacked contents are checked instead, against the
pinned MD5s of data/published.py (fetch.py does so for every source).
"""

from pathlib import Path

from prunelab.data.folder import read_idx_folder
from prunelab.data.splits import Splits
from prunelab.errors import PrunelabError

PACKAGE = "dataset-fashion-mnist"
FOLDER = Path("/usr/share/datasets/fashion-mnist")


def read_debian_fashion(counts: tuple[int, int], folder: Path | None = None) -> Splits:
    folder = FOLDER if folder is None else Path(folder)
    if not folder.is_dir():
        raise PrunelabError(f"{folder} does not exist; run `apt-get install {PACKAGE}` or pass --data-dir")
    return read_idx_folder(folder, counts)


def describe(folder: Path | None = None) -> str:
    return f"Debian package {PACKAGE} ({FOLDER if folder is None else folder})"
