"""Small compressed models for the container, corruption and storage tests."""

import json
import struct
import zlib

import numpy as np

from prunelab.compression.container import CompressedModel
from prunelab.compression.kmeans import Codebook, cluster
from prunelab.compression.layer import pack_layer


def sparse_layer(name, shape, density, bits, index_bits, seed, bias=True, float_bits=32):
    """A magnitude-pruned, k-means-quantized layer of random normal weights (centroids and bias
    rounded to float16 values when ``float_bits`` is 16)."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 0.1, size=shape).astype(np.float32)
    mask = np.abs(weights) > np.quantile(np.abs(weights), 1 - density)
    codebook, codes = cluster(weights, mask, bits)
    bias_values = rng.normal(0, 0.01, size=shape[0]).astype(np.float32) if bias else None
    if float_bits == 16:
        codebook = Codebook(half(codebook.centroids), codebook.bits)
        bias_values = None if bias_values is None else half(bias_values)
    return pack_layer(name, codebook, codes, mask, index_bits, bias=bias_values, float_bits=float_bits)


def half(values):
    return values.astype(np.float16).astype(np.float32)


def two_layer_model(fc_float_bits=32):
    """LeNet-like: a conv layer (8-bit codes, 66 % kept) and an fc layer (5-bit, 10 % kept); the fc
    layer's centroids and bias stored as float16 when ``fc_float_bits`` is 16 (format version 2)."""
    layers = [
        sparse_layer("conv1.weight", (20, 1, 5, 5), 0.66, 8, 5, seed=1),
        sparse_layer("fc1.weight", (50, 80), 0.10, 5, 5, seed=2, float_bits=fc_float_bits),
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


def join_file(header, payloads, text=None, version=1):
    """Reassemble a file with valid CRCs and framing: only the reader's own checks can object.
    ``text`` replaces the canonical serialisation of ``header`` when given."""
    if text is None:
        text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("ascii")
    head = b"\x89PLC\r\n\x1a\n" + struct.pack("<HHI", version, 0, len(text)) + text
    parts = [head, struct.pack("<I", zlib.crc32(head))]
    for payload in payloads:
        parts += [struct.pack("<I", len(payload)), payload, struct.pack("<I", zlib.crc32(payload))]
    return b"".join(parts)


def compact_model():
    """A compact chain (format version 3): conv1 keeps 4 of 6 channels, fc1 (after flattening 2x2
    maps) keeps 3 of 5 units and reads the 4 kept channels' 16 features, fc2 keeps all 3 units.
    fc1's bias is off the float16 grid (a folded constant), its centroids are not."""
    from prunelab.compression.units import KeptUnits

    kept = {"conv1": KeptUnits((6, 1, 3, 3), np.array([0, 2, 3, 5])), "fc1": KeptUnits((5, 24), np.array([1, 2, 4])),
            "fc2": KeptUnits((3, 5), np.arange(3))}
    conv1 = sparse_layer("conv1", (4, 1, 3, 3), 0.7, 8, 3, seed=4, float_bits=16)
    fc1 = sparse_layer("fc1", (3, 16), 0.4, 5, 4, seed=5, float_bits=16)
    fc1 = pack_layer("fc1", fc1.codebook, *fc1.unpack_codes(), 4, bias=np.array([0.1, -0.5, 0.25], np.float32),
                     float_bits=16, bias_bits=32)
    fc2 = sparse_layer("fc2", (3, 3), 0.9, 5, 2, seed=6)
    return CompressedModel("toy-chain", {"dataset": "mnist", "seed": 0}, [conv1, fc1, fc2], {}, kept)


def with_crc(body):
    """A version 3 file from everything but its CRC-32: only the reader's own checks can object."""
    return body + struct.pack("<I", zlib.crc32(body))


class AllocationBound:
    """`with AllocationBound(limit):` fails if the block allocates more than `limit` bytes at its peak
    (numpy's allocations included). The work a forged size could cause is allocation in proportion
    to it; unlike a wall-clock limit, this does not depend on how loaded the machine is."""

    def __init__(self, limit: int = 1 << 20):
        self.limit = limit

    def __enter__(self):
        import tracemalloc

        self.was_tracing = tracemalloc.is_tracing()
        if not self.was_tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        self.before = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(self, *exc):
        import tracemalloc

        self.peak = tracemalloc.get_traced_memory()[1] - self.before
        if not self.was_tracing:
            tracemalloc.stop()
        if exc[0] is None:
            assert self.peak <= self.limit, f"allocated {self.peak:,} bytes at peak, more than {self.limit:,}"
        return False
