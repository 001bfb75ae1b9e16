"""Bytes <-> parts of a compressed model. The layout is specified byte by byte in docs/file-format.md.

Versions 1 and 2 (this module; version 3, the compact model, is ``format_v3``):

    preamble   magic (8) | version u16 | flags u16 | header length u32         (little-endian)
    header     compact JSON: architecture, metadata, layer table, every section's length
    header CRC u32 = zlib.crc32 of preamble + header
    sections   u32 length | payload | u32 zlib.crc32(payload), in the order the header lists them

The reader trusts nothing: every length is checked against the bytes actually present before it is
used, every section against its CRC and against what the header implies, and every layer is fully
decoded, so a file that loads is a file that ``to_bytes`` would write again byte for byte.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np

from prunelab.compression import format_v3, header
from prunelab.compression.kmeans import Codebook
from prunelab.compression.layer import CompressedLayer
from prunelab.errors import PrunelabError

MAGIC = b"\x89PLC\r\n\x1a\n"
MAX_FILE_BYTES = 64 << 20  # far past any model this format holds (LeNet-5 dense fp32: 1.7 MB); read no more
VERSIONS = (1, 2, 3)  # 2: some layer stores its centroids and bias as float16; 3: the compact model
_PREAMBLE = struct.Struct("<8sHHI")
_VERSION = struct.Struct("<8sHH")  # what every version starts with
_U32 = struct.Struct("<I")


def encode_model(model: str, metadata: dict, layers: list, dense: dict, kept: dict | None = None) -> bytes:
    """The file's bytes for a model already validated by ``CompressedModel``: version 3 when it
    is compact (``kept`` given), else 1 or 2."""
    if kept is not None:
        return format_v3.encode(_VERSION.pack(MAGIC, format_v3.VERSION, 0), model, metadata, layers, kept)
    sections = []
    for layer in layers:
        if layer.bias is not None and layer.bias_bits != layer.float_bits:
            raise PrunelabError(f"layer {layer.name}: a bias width of its own needs format version 3")
        sections += [
            _floats(layer.codebook.centroids, layer.float_bits),
            layer.weight_code_lengths.tobytes(),
            layer.index_code_lengths.tobytes(),
            layer.weight_stream,
            layer.index_stream,
        ]
        if layer.bias is not None:
            sections.append(_floats(layer.bias, layer.float_bits))
    sections += [_floats(array, 32) for array in dense.values()]
    version = 2 if any(layer.float_bits == 16 for layer in layers) else 1  # one encoding per model
    table = header.describe(model, metadata, layers, dense, [len(s) for s in sections], version)
    text = header.dumps(table)
    head = _PREAMBLE.pack(MAGIC, version, 0, len(text)) + text
    parts = [head, _U32.pack(zlib.crc32(head))]
    for payload in sections:
        parts += [_U32.pack(len(payload)), payload, _U32.pack(zlib.crc32(payload))]
    return b"".join(parts)


def decode_model(data: bytes) -> tuple[str, dict, list[CompressedLayer], dict[str, np.ndarray], dict | None]:
    """Parse and fully verify a file: (model, metadata, layers, dense, kept units or None before
    version 3); any defect raises PrunelabError with a one-line message."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise PrunelabError("a compressed model must be read from bytes")
    data = bytes(data)
    try:
        return _decode(data)
    except PrunelabError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError, struct.error) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise PrunelabError(f"corrupt compressed model: {reason}") from exc


def _decode(data: bytes):
    if len(data) < _VERSION.size or data[:8] != MAGIC:
        raise PrunelabError("not a prunelab compressed model (bad magic bytes)")
    _, version, flags = _VERSION.unpack_from(data)
    if version not in VERSIONS:
        raise PrunelabError(f"unsupported compressed model format version {version} "
                            f"(this reader knows {', '.join(map(str, VERSIONS))})")
    if flags != 0:
        raise PrunelabError(f"unknown format flags {flags:#06x} in compressed model")
    if version == format_v3.VERSION:
        model, metadata, layers, kept = format_v3.decode(data, _VERSION.size)
        return model, metadata, layers, {}, kept
    if len(data) < _PREAMBLE.size:
        raise PrunelabError("compressed model is truncated (in its preamble)")
    (header_length,) = _U32.unpack_from(data, _VERSION.size)
    head_end = _PREAMBLE.size + header_length
    if head_end + _U32.size > len(data):
        raise PrunelabError("compressed model is truncated (header runs past the end of the file)")
    (stored,) = _U32.unpack_from(data, head_end)
    if zlib.crc32(data[:head_end]) != stored:
        raise PrunelabError("compressed model header is corrupt (CRC-32 mismatch)")
    plan = header.parse(data[_PREAMBLE.size : head_end], version)
    sections = _read_sections(data, head_end + _U32.size, plan.section_lengths)
    layers = [_build_layer(entry, sections) for entry in plan.layers]
    dense = {entry["name"]: _array(next(sections), entry["shape"], 32) for entry in plan.dense}
    return plan.model, plan.metadata, layers, dense, None


def _read_sections(data: bytes, offset: int, lengths: list[int]):
    expected = offset + sum(8 + n for n in lengths)  # before any length is used to read
    if expected > len(data):
        raise PrunelabError(f"compressed model is truncated ({len(data)} of {expected} bytes)")
    if expected < len(data):
        raise PrunelabError(f"compressed model has {len(data) - expected} unexpected trailing bytes")
    payloads = []
    for number, length in enumerate(lengths):
        (framed,) = _U32.unpack_from(data, offset)
        if framed != length:
            raise PrunelabError(f"section {number} length {framed} disagrees with the header ({length})")
        payload = data[offset + 4 : offset + 4 + length]
        (stored,) = _U32.unpack_from(data, offset + 4 + length)
        if zlib.crc32(payload) != stored:
            raise PrunelabError(f"section {number} of the compressed model is corrupt (CRC-32 mismatch)")
        payloads.append(payload)
        offset += 8 + length
    return iter(payloads)


def _build_layer(entry: dict, sections) -> CompressedLayer:
    float_bits = entry.get("float_bits", 32)
    centroids = _array(next(sections), [entry["centroids"]], float_bits)
    layer = CompressedLayer(
        name=entry["name"],
        shape=tuple(entry["shape"]),
        index_bits=entry["index_bits"],
        codebook=Codebook(centroids, entry["code_bits"]),
        weight_code_lengths=np.frombuffer(next(sections), dtype=np.uint8),
        index_code_lengths=np.frombuffer(next(sections), dtype=np.uint8),
        weight_stream=next(sections),
        weight_count=entry["weight_count"],
        index_stream=next(sections),
        index_count=entry["index_count"],
        bias=None if entry["bias_shape"] is None else _array(next(sections), entry["bias_shape"], float_bits),
        float_bits=float_bits,
    )
    try:
        layer.verify()  # decodes both streams: counts, padding, bounds; allocates nothing by shape
    except PrunelabError as exc:
        raise PrunelabError(f"layer {layer.name} is corrupt: {exc}") from exc
    return layer


def _array(payload: bytes, shape: list[int], float_bits: int) -> np.ndarray:
    return np.frombuffer(payload, dtype=_FLOAT[float_bits]).astype(np.float32).reshape(shape)


def _floats(array: np.ndarray, float_bits: int) -> bytes:
    return np.ascontiguousarray(array, dtype=_FLOAT[float_bits]).tobytes()


_FLOAT = {16: "<f2", 32: "<f4"}


def normalised_metadata(metadata) -> dict:
    """``metadata`` as it will read back (a JSON round trip); refuses what JSON cannot hold."""
    try:
        return json.loads(json.dumps(metadata, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        raise PrunelabError(f"model metadata must be plain JSON (str keys, finite numbers): {exc}") from exc
