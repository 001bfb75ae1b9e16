"""The four official IDX files, read from a folder (the user's, or a Debian package's)."""

from pathlib import Path

from prunelab.data.idx import MAX_NDIM, MAX_PAYLOAD, decode_split
from prunelab.data.splits import Splits
from prunelab.errors import PrunelabError
from prunelab.foundations.files import read_regular

# Base names shared by MNIST and Fashion-MNIST; on the mirrors each carries a ".gz".
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
IDX_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)


def decode_idx_set(files: dict[str, tuple[str, bytes]], counts: tuple[int, int]) -> Splits:
    """Build Splits from the four files, given as base name -> (display name, bytes)."""
    train = decode_split(files[TRAIN_IMAGES], files[TRAIN_LABELS], counts[0])
    test = decode_split(files[TEST_IMAGES], files[TEST_LABELS], counts[1])
    return Splits(*train, *test)


def find_idx_file(folder: Path, base: str) -> Path:
    """The unpacked file if present, else the .gz one."""
    for candidate in (folder / base, folder / f"{base}.gz"):
        if candidate.exists() or candidate.is_symlink():
            return candidate  # read_regular refuses one that is not a regular file
    raise PrunelabError(f"folder {folder} has no {base} (or {base}.gz)")


def read_idx_folder(folder, counts: tuple[int, int]) -> Splits:
    """Read and validate a folder holding the four IDX files, each plain or gzipped."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise PrunelabError(f"data folder {folder} does not exist")
    files = {}
    for base in IDX_FILES:
        path = find_idx_file(folder, base)
        files[base] = (str(path), read_regular(path, MAX_PAYLOAD + 4 + 4 * MAX_NDIM, "IDX file"))
    return decode_idx_set(files, counts)
