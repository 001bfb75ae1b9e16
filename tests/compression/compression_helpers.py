"""Small compressed models for the container, corruption and storage tests."""

import json
import struct
import zlib

import numpy as np

from prunelab.compression.container import CompressedModel
from prunelab.compression.kmeans import cluster
from prunelab.compression.layer import pack_layer


def sparse_layer(name, shape, density, bits, index_bits, seed, bias=True):
    """A magnitude-pruned, k-means-quantized layer of random normal weights."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 0.1, size=shape).astype(np.float32)
    mask = np.abs(weights) > np.quantile(np.abs(weights), 1 - density)
    codebook, codes = cluster(weights, mask, bits)
    bias_values = rng.normal(0, 0.01, size=shape[0]).astype(np.float32) if bias else None
    return pack_layer(name, codebook, codes, mask, index_bits, bias=bias_values)


def two_layer_model():
    """LeNet-like: a conv layer (8-bit codes, 66 % kept) and an fc layer (5-bit, 10 % kept)."""
    layers = [
        sparse_layer("conv1.weight", (20, 1, 5, 5), 0.66, 8, 5, seed=1),
        sparse_layer("fc1.weight", (50, 80), 0.10, 5, 5, seed=2),
    ]
    dense = {"fc2.weight": np.random.default_rng(3).normal(size=(10, 50)).astype(np.float32)}
    return CompressedModel("lenet5-caffe", {"dataset": "mnist", "accuracy": 0.9921}, layers, dense)


def split_file(data):
    """(header dict, list of section payloads) of a well-formed file."""
    (header_length,) = struct.unpack_from("<I", data, 12)
    header = json.loads(data[16 : 16 + header_length])
    offset, payloads = 16 + header_length + 4, []
    while offset < len(data):
        (length,) = struct.unpack_from("<I", data, offset)
        payloads.append(data[offset + 4 : offset + 4 + length])
        offset += 8 + length
    return header, payloads


def join_file(header, payloads, text=None):
    """Reassemble a file with valid CRCs and framing: only the reader's own checks can object.
    ``text`` replaces the canonical serialisation of ``header`` when given."""
    if text is None:
        text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("ascii")
    head = b"\x89PLC\r\n\x1a\n" + struct.pack("<HHI", 1, 0, len(text)) + text
    parts = [head, struct.pack("<I", zlib.crc32(head))]
    for payload in payloads:
        parts += [struct.pack("<I", len(payload)), payload, struct.pack("<I", zlib.crc32(payload))]
    return b"".join(parts)
