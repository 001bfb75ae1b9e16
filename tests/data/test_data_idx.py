"""IDX decoding: exact round trips, and every kind of damage named with the file it is in."""

import gzip
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from prunelab.data.idx import decode_idx, decode_images, decode_labels, decode_split, encode_idx, gunzip
from prunelab.errors import PrunelabError

NAME = "train-images-idx3-ubyte"


def images(n=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def labels(n=5, seed=0):
    return np.random.default_rng(seed).integers(0, 10, n, dtype=np.uint8)


def test_header_is_big_endian_magic_then_dims():
    data = encode_idx(np.zeros((2, 28, 28), np.uint8))
    assert data[:4] == b"\x00\x00\x08\x03"
    assert struct.unpack(">3I", data[4:16]) == (2, 28, 28)
    assert len(data) == 16 + 2 * 28 * 28


@settings(max_examples=50, deadline=None)
@given(arrays(np.uint8, st.lists(st.integers(0, 6), min_size=1, max_size=4)))
def test_round_trip_any_uint8_array(array):
    decoded = decode_idx(encode_idx(array), "x")
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, array)


def test_images_and_labels_round_trip_plain_and_gzipped():
    x, y = images(), labels()
    for wrap in (lambda b: b, gzip.compress):
        got_x, got_y = decode_split((NAME, wrap(encode_idx(x))), ("labels", wrap(encode_idx(y))), count=5)
        np.testing.assert_array_equal(got_x, x)
        np.testing.assert_array_equal(got_y, y)


def corrupt_cases():
    good = encode_idx(images())
    return {
        "bad magic": (b"\x01\x00" + good[2:], "magic"),
        "wrong dtype byte": (good[:2] + b"\x0d" + good[3:], "element type 0x0d"),
        "truncated": (good[:-1], "truncated"),
        "trailing bytes": (good + b"\x00", "extra bytes"),
        "header cut short": (good[:9], "truncated inside its header"),
        "empty": (b"", "too short"),
        "wrong shape": (encode_idx(np.zeros((5, 28, 27), np.uint8)), "shape"),
        "wrong count": (encode_idx(images(4)), "holds 4 images; expected 5"),
        "broken gzip": (gzip.compress(good)[:-20], "not a valid gzip file"),
    }


@pytest.mark.parametrize("case", sorted(corrupt_cases()))
def test_corrupt_image_file_is_an_error_naming_the_file(case):
    data, words = corrupt_cases()[case]
    with pytest.raises(PrunelabError) as error:
        decode_images(data, NAME, count=5)
    assert NAME in str(error.value) and words in str(error.value)
    assert "\n" not in str(error.value)


def test_label_ten_is_refused():
    with pytest.raises(PrunelabError, match=r"labels\.idx holds label 10; labels must be 0\.\.9"):
        decode_labels(encode_idx(np.array([1, 10, 3], np.uint8)), "labels.idx")


def test_labels_must_be_one_dimensional():
    with pytest.raises(PrunelabError, match="lab.idx has shape"):
        decode_labels(encode_idx(np.zeros((3, 2), np.uint8)), "lab.idx")


def test_image_and_label_counts_must_match():
    with pytest.raises(PrunelabError, match="img holds 5 images but lab holds 4 labels"):
        decode_split(("img", encode_idx(images(5))), ("lab", encode_idx(labels(4))))


def test_gz_name_with_garbage_is_a_gzip_error():
    with pytest.raises(PrunelabError, match="x.gz is not a valid gzip file"):
        decode_images(b"definitely not gzip", "x.gz")


def test_gunzip_of_corrupted_stream_names_the_file():
    damaged = bytearray(gzip.compress(bytes(1000)))
    damaged[12:20] = b"\xff" * 8
    with pytest.raises(PrunelabError, match="^f.gz is not a valid gzip file"):
        gunzip(bytes(damaged), "f.gz")


def test_writer_refuses_other_dtypes():
    with pytest.raises(PrunelabError):
        encode_idx(np.zeros(3, np.int32))


def test_dimensions_whose_product_overflows_int64_are_refused_before_the_payload():
    header = bytes([0, 0, 8, 3]) + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 2**32 - 1)
    with pytest.raises(PrunelabError, match=r"^f declares shape \(4294967295, 4294967295, 4294967295\), .* at most"):
        decode_images(header, "f")


def test_255_dimensions_are_refused():
    header = bytes([0, 0, 8, 255]) + struct.pack(">255I", *[1] * 255)
    with pytest.raises(PrunelabError, match="^f declares 255 dimensions; IDX files of the MNIST family have 1 to 4"):
        decode_images(header, "f")


def test_a_small_gz_that_expands_to_gigabytes_is_refused_with_bounded_memory():
    import resource

    packer = zlib.compressobj(9, wbits=16 + zlib.MAX_WBITS)  # gzip framing, built a megabyte at a time
    parts = [packer.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 2**32 - 1))]
    parts += [packer.compress(bytes(1 << 20)) for _ in range(512)] + [packer.flush()]
    bomb = b"".join(parts)
    assert len(bomb) < 1 << 20  # under 1 MB that would expand to 512 MB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(PrunelabError, match=r"^bomb.gz expands to more than [\d,]+ bytes"):
        decode_labels(bomb, "bomb.gz")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 400 << 10  # KiB: under 400 MB more


def test_a_fifo_or_a_link_to_dev_zero_in_the_folder_is_refused_not_read(tmp_path):
    import os

    from data_helpers import SMALL_COUNTS, random_splits, write_idx_folder

    from prunelab.data.folder import read_idx_folder

    folder = write_idx_folder(tmp_path / "idx", random_splits())
    (folder / "t10k-labels-idx1-ubyte").unlink()
    os.mkfifo(folder / "t10k-labels-idx1-ubyte")
    with pytest.raises(PrunelabError, match="t10k-labels-idx1-ubyte is a FIFO, not a regular file"):
        read_idx_folder(folder, SMALL_COUNTS)
    (folder / "t10k-labels-idx1-ubyte").unlink()
    os.symlink("/dev/zero", folder / "t10k-labels-idx1-ubyte")
    with pytest.raises(PrunelabError, match="t10k-labels-idx1-ubyte is a device or other special file"):
        read_idx_folder(folder, SMALL_COUNTS)
