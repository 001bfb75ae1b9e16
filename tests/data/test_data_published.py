"""The datasets are checked against independently published checksums (data/published.py): the
real MNIST matches them, and a cache or a package holding anything else is refused in one line."""

import hashlib

import numpy as np
import pytest
from data_helpers import SMALL_COUNTS, random_splits, write_idx_folder

from prunelab.data import DATASETS, debian, fetch, load, published
from prunelab.data.cache import cache_files
from prunelab.data.idx import encode_idx
from prunelab.data.splits import Splits
from prunelab.errors import PrunelabError


@pytest.fixture
def published_random(monkeypatch):
    """random_splits() stands for both published datasets."""
    for dataset in DATASETS:
        monkeypatch.setitem(published.PUBLISHED_MD5, dataset, published.idx_md5s(random_splits()))


def test_the_md5_is_that_of_the_idx_file_holding_the_array():
    array = random_splits().train_images
    assert published.idx_md5(array) == hashlib.md5(encode_idx(array)).hexdigest()


def test_real_mnist_is_the_published_one_and_one_changed_pixel_is_not(mnist):
    assert published.mismatch("mnist", mnist) is None
    images = mnist.test_images.copy()
    images[1234, 14, 14] ^= 1
    changed = Splits(mnist.train_images, mnist.train_labels, images, mnist.test_labels)
    assert published.mismatch("mnist", changed).startswith("its t10k-images-idx3-ubyte has MD5 ")
    assert not published.is_published("fashion-mnist", mnist)


def tamper(path) -> None:
    """Rewrite one cache file with one pixel changed, as a valid .npz."""
    with np.load(path) as archive:
        images, labels = archive["images"].copy(), archive["labels"]
    images[0, 0, 0] ^= 0xFF
    with open(path, "wb") as handle:
        np.savez_compressed(handle, images=images, labels=labels)


def test_a_tampered_cache_is_refused_in_one_line(tmp_path, published_random):
    fetch("mnist", data_dir=write_idx_folder(tmp_path / "idx", random_splits()), cache_dir=tmp_path / "cache",
          counts=SMALL_COUNTS)
    tamper(cache_files(tmp_path / "cache" / "mnist")[0])
    with pytest.raises(PrunelabError) as error:
        load("mnist", cache_dir=tmp_path / "cache", allow_network=False, counts=SMALL_COUNTS)
    message = str(error.value)
    assert message.startswith(f"cache {tmp_path / 'cache' / 'mnist'} is not the published mnist: its "
                              f"train-images-idx3-ubyte has MD5 ")
    assert message.endswith(f"; delete {tmp_path / 'cache' / 'mnist'} and fetch again") and "\n" not in message


def test_a_debian_package_with_other_contents_is_refused(tmp_path, monkeypatch, published_random):
    other = random_splits(seed=1)
    monkeypatch.setattr(debian, "FOLDER", write_idx_folder(tmp_path / "deb", other, gz=True))
    with pytest.raises(PrunelabError) as error:
        fetch("fashion-mnist", cache_dir=tmp_path / "cache", allow_network=False, counts=SMALL_COUNTS)
    assert (f"Debian package dataset-fashion-mnist: Debian package dataset-fashion-mnist ({tmp_path / 'deb'}) is "
            f"not the published fashion-mnist: its train-images-idx3-ubyte has MD5 "
            f"{published.idx_md5(other.train_images)}") in str(error.value)
    assert "\n" not in str(error.value) and not (tmp_path / "cache" / "fashion-mnist").exists()
