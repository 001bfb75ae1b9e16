"""Splits validation and the .npz cache: round trip, atomic writes, and corrupt files."""

import numpy as np
import pytest
from data_helpers import SMALL_COUNTS, assert_same, random_splits

from prunelab.data import Splits, default_cache_dir
from prunelab.data.cache import cache_files, is_cached, load_cache, save_cache
from prunelab.errors import PrunelabError


def test_with_validation_holds_out_the_last_training_images():
    splits = random_splits((100, 20))
    tuned = splits.with_validation(30)
    assert tuned.counts == (70, 30)
    np.testing.assert_array_equal(tuned.train_images, splits.train_images[:70])
    np.testing.assert_array_equal(tuned.test_images, splits.train_images[70:])
    np.testing.assert_array_equal(tuned.test_labels, splits.train_labels[70:])


@pytest.mark.parametrize("n_val", [0, 100, -1])
def test_with_validation_refuses_sizes_that_leave_nothing(n_val):
    with pytest.raises(PrunelabError, match="validation size"):
        random_splits((100, 20)).with_validation(n_val)


def test_splits_refuse_bad_arrays():
    good = random_splits()
    with pytest.raises(PrunelabError, match="uint8"):
        Splits(good.train_images.astype(np.int16), good.train_labels, good.test_images, good.test_labels)
    with pytest.raises(PrunelabError, match="expected \\(N, 28, 28\\)"):
        Splits(good.train_images[:, :27], good.train_labels, good.test_images, good.test_labels)
    with pytest.raises(PrunelabError, match="labels have shape"):
        Splits(good.train_images, good.train_labels[:-1], good.test_images, good.test_labels)
    bad_labels = good.test_labels.copy()
    bad_labels[0] = 10
    with pytest.raises(PrunelabError, match="labels must be 0..9"):
        Splits(good.train_images, good.train_labels, good.test_images, bad_labels)


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PRUNELAB_DATA_DIR", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv("PRUNELAB_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "prunelab" / "datasets"


def test_cache_round_trip_leaves_no_temp_files(tmp_path):
    splits = random_splits()
    written = save_cache(tmp_path / "mnist", splits)
    assert written == cache_files(tmp_path / "mnist") and is_cached(tmp_path / "mnist")
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == ["test.npz", "train.npz"]
    assert_same(splits, load_cache(tmp_path / "mnist", SMALL_COUNTS))


def test_failed_cache_write_keeps_the_old_file(tmp_path, monkeypatch):
    folder = tmp_path / "mnist"
    save_cache(folder, random_splits(seed=1))
    before = (folder / "train.npz").read_bytes()

    def explode(*args, **kwargs):
        raise RuntimeError("disk full halfway")

    monkeypatch.setattr(np, "savez_compressed", explode)
    with pytest.raises(RuntimeError):
        save_cache(folder, random_splits(seed=2))
    assert (folder / "train.npz").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["test.npz", "train.npz"]


def corrupt(path):
    data = bytearray(path.read_bytes())
    return {
        "truncated": bytes(data[: len(data) // 2]),
        "garbage": b"not a zip file at all",
        "empty": b"",
    }


@pytest.mark.parametrize("kind", ["truncated", "garbage", "empty"])
def test_corrupt_cache_file_tells_the_user_to_delete_it(tmp_path, kind):
    folder = tmp_path / "mnist"
    save_cache(folder, random_splits())
    train = folder / "train.npz"
    train.write_bytes(corrupt(train)[kind])
    with pytest.raises(PrunelabError) as error:
        load_cache(folder, SMALL_COUNTS)
    message = str(error.value)
    assert str(train) in message and "delete it" in message and "\n" not in message


def test_cache_with_wrong_arrays_or_counts_is_refused(tmp_path):
    folder = tmp_path / "mnist"
    save_cache(folder, random_splits())
    with pytest.raises(PrunelabError, match="expected 60000/10000.*delete"):
        load_cache(folder, (60000, 10000))
    np.savez_compressed(folder / "test.npz", images=np.zeros((20, 28, 28), np.uint8))
    with pytest.raises(PrunelabError, match="test.npz is corrupt.*expected images and labels"):
        load_cache(folder, SMALL_COUNTS)
    np.savez_compressed(folder / "test.npz", images=np.zeros((20, 28, 28), np.float32),
                        labels=np.zeros(20, np.uint8))
    with pytest.raises(PrunelabError, match="uint8.*delete"):
        load_cache(folder, SMALL_COUNTS)


def test_cache_refuses_pickled_object_arrays(tmp_path):
    folder = tmp_path / "mnist"
    save_cache(folder, random_splits())
    objects = np.empty(20, dtype=object)
    np.savez(folder / "test.npz", images=objects, labels=objects)
    with pytest.raises(PrunelabError, match="test.npz is corrupt"):
        load_cache(folder, SMALL_COUNTS)
