"""The IDX file format of the MNIST family: a small big-endian header, then raw bytes.

Header: two zero bytes, one byte naming the element type (0x08 = unsigned byte, the only
type MNIST and Fashion-MNIST use), one byte giving the number of dimensions, then one
big-endian uint32 per dimension. The payload is the array in C order. Described at
http://yann.lecun.com/exdb/mnist/ ("FILE FORMATS FOR THE MNIST DATABASE").

Every function here maps bytes to arrays (or back) and never touches the disk, so each
kind of corruption can be tested on a few hundred bytes. ``name`` is only used in error
messages, so that the user learns which file is broken.
"""

import math
import struct
import zlib

import numpy as np

from prunelab.errors import PrunelabError

UBYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"
MAX_NDIM = 4  # images (N, 28, 28) and labels (N,) need 3; a 4th leaves room for other IDX arrays
MAX_PAYLOAD = 256 << 20  # bytes; the largest official file (60,000 images) holds 47 MB
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10


def gunzip(data: bytes, name: str, limit: int = MAX_PAYLOAD + 4 + 4 * MAX_NDIM) -> bytes:
    """Decompress a gzip stream to at most `limit` bytes (a small file that expands to gigabytes is
    refused with bounded memory), turning the ways gzip reports damage into one error."""
    stream = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = stream.decompress(data, limit + 1)
        if len(out) > limit:
            raise PrunelabError(f"{name} expands to more than {limit:,} bytes, more than an IDX file of the MNIST "
                                f"family can hold")
        if not stream.eof:
            raise EOFError("truncated")
    except (OSError, EOFError, zlib.error) as exc:
        raise PrunelabError(f"{name} is not a valid gzip file ({exc or 'truncated'})") from exc
    return out


def maybe_gunzip(data: bytes, name: str) -> bytes:
    """Users keep the files either as downloaded (.gz) or unpacked; accept both."""
    if name.endswith(".gz") or data[:2] == GZIP_MAGIC:
        return gunzip(data, name)
    return data


def encode_idx(array: np.ndarray) -> bytes:
    """Write a uint8 array as IDX bytes (the inverse of ``decode_idx``; used to build test files)."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise PrunelabError(f"IDX writer supports uint8 only, got {array.dtype}")
    return idx_header(array.shape) + np.ascontiguousarray(array).tobytes()


def idx_header(shape: tuple[int, ...]) -> bytes:
    """The header of an unsigned-byte IDX file holding an array of `shape`."""
    return struct.pack(">BBBB", 0, 0, UBYTE, len(shape)) + struct.pack(f">{len(shape)}I", *shape)


def decode_idx(data: bytes, name: str) -> np.ndarray:
    """Parse IDX bytes into a uint8 array; the payload must fill the declared shape exactly."""
    if len(data) < 4:
        raise PrunelabError(f"{name} is too short to be an IDX file ({len(data)} bytes)")
    zero1, zero2, element_type, ndim = struct.unpack(">BBBB", data[:4])
    if zero1 or zero2:
        raise PrunelabError(f"{name} is not an IDX file (magic starts {data[:2].hex()}, expected 0000)")
    if element_type != UBYTE:
        raise PrunelabError(f"{name} holds element type 0x{element_type:02x}; only 0x08 (unsigned byte) is supported")
    if not 1 <= ndim <= MAX_NDIM:
        raise PrunelabError(f"{name} declares {ndim} dimensions; IDX files of the MNIST family have 1 to {MAX_NDIM}")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise PrunelabError(f"{name} is truncated inside its header")
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    payload = math.prod(shape)  # Python integers: a product past int64 is a number, not an overflow
    if payload > MAX_PAYLOAD:
        raise PrunelabError(f"{name} declares shape {shape}, {payload:,} bytes; at most {MAX_PAYLOAD:,} are allowed")
    expected = header_size + payload
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "followed by extra bytes"
        raise PrunelabError(f"{name} is {problem}: {len(data)} bytes, shape {shape} needs {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape).copy()


def decode_images(data: bytes, name: str, count: int | None = None) -> np.ndarray:
    """IDX images: (N, 28, 28) uint8. ``count`` is the number the caller expects, if any."""
    images = decode_idx(maybe_gunzip(data, name), name)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise PrunelabError(f"{name} has shape {images.shape}; expected (N, 28, 28) images")
    _check_count(images, name, count, "images")
    return images


def decode_labels(data: bytes, name: str, count: int | None = None) -> np.ndarray:
    """IDX labels: (N,) uint8 class numbers 0..9."""
    labels = decode_idx(maybe_gunzip(data, name), name)
    if labels.ndim != 1:
        raise PrunelabError(f"{name} has shape {labels.shape}; expected (N,) labels")
    if labels.size and labels.max() >= NUM_CLASSES:
        raise PrunelabError(f"{name} holds label {labels.max()}; labels must be 0..9")
    _check_count(labels, name, count, "labels")
    return labels


def decode_split(images: tuple[str, bytes], labels: tuple[str, bytes], count: int | None = None):
    """Decode one split from its ``(name, bytes)`` image and label files; the counts must agree."""
    image_array = decode_images(images[1], images[0], count)
    label_array = decode_labels(labels[1], labels[0], count)
    if len(image_array) != len(label_array):
        raise PrunelabError(
            f"{images[0]} holds {len(image_array)} images but {labels[0]} holds {len(label_array)} labels"
        )
    return image_array, label_array


def _check_count(array: np.ndarray, name: str, count: int | None, what: str) -> None:
    if count is not None and len(array) != count:
        raise PrunelabError(f"{name} holds {len(array)} {what}; expected {count}")
