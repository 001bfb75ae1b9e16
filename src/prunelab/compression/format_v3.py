"""Format version 3: a compact model (dead and unread units dropped) in one checked binary record.

    magic (8) | version u16 = 3 | flags u16 = 0          the preamble of every version
    body: model name, metadata JSON, then per layer its fields and payloads (varints, see binary)
    CRC-32 u32 of everything before it

Byte by byte in docs/file-format.md. Compared with versions 1 and 2: no JSON header and no framing
per section (one CRC over the file, every count and length checked against the bytes left before it
is used), layers in their compact shape with the original units they keep as a bitmap, bit-packed
code-length tables (``length_tables``), and a bias width of its own (folding a dropped unit's
constant into a bias can leave it off the float16 grid). As before, every layer is fully decoded on
read, so a file that loads is one that ``encode`` writes again byte for byte.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np

from prunelab.compression import header, length_tables
from prunelab.compression.binary import Reader, text, varint
from prunelab.compression.kmeans import Codebook
from prunelab.compression.layer import MAX_DIMS, CompressedLayer, check_positions
from prunelab.compression.units import KeptUnits, compact_shape
from prunelab.errors import PrunelabError

VERSION = 3
_U32 = struct.Struct("<I")
_FLOAT = {16: "<f2", 32: "<f4"}
# layer flags
SOME_DROPPED, CENTROIDS_HALF, BIAS_HALF = 1, 2, 4


def encode(preamble: bytes, model: str, metadata: dict, layers: list, kept: dict) -> bytes:
    """The file's bytes; ``preamble`` is magic + version + flags."""
    parts = [preamble, text(model), text(metadata_text(metadata)), varint(len(layers))]
    for layer in layers:
        parts += layer_parts(layer, kept[layer.name]).values()
    body = b"".join(parts)
    return body + _U32.pack(zlib.crc32(body))


def layer_parts(layer: CompressedLayer, kept: KeptUnits) -> dict[str, bytes]:
    """A layer's bytes, part by part in file order."""
    flags = (0 if kept.all_kept else SOME_DROPPED) | (CENTROIDS_HALF if layer.float_bits == 16 else 0) \
        | (BIAS_HALF if layer.bias_bits == 16 else 0)
    weight_width, _, weight_table = length_tables.pack(layer.weight_code_lengths, trim=False)
    index_width, index_count, index_table = length_tables.pack(layer.index_code_lengths, trim=True)
    counts = (layer.codebook.size, index_count, layer.weight_count, layer.index_count, len(layer.weight_stream),
              len(layer.index_stream))
    return {
        "name": text(layer.name),
        "shape": bytes([len(kept.shape)]) + b"".join(map(varint, kept.shape)),
        "settings": bytes([flags, layer.codebook.bits, layer.index_bits, weight_width | index_width << 4]),
        "counts": b"".join(map(varint, counts)),
        "bitmap": b"" if kept.all_kept else _bitmap(kept),
        "centroids": _floats(layer.codebook.centroids, layer.float_bits),
        "weight lengths": weight_table,
        "index lengths": index_table,
        "weight stream": layer.weight_stream,
        "index stream": layer.index_stream,
        "bias": _floats(layer.bias, layer.bias_bits),
    }


def decode(data: bytes, preamble_size: int):
    """(model, metadata, layers, kept) of a version 3 file whose preamble has been checked."""
    if len(data) < preamble_size + 4:
        raise PrunelabError("compressed model is truncated (no room for its CRC-32)")
    (stored,) = _U32.unpack_from(data, len(data) - 4)
    if zlib.crc32(data[:-4]) != stored:
        raise PrunelabError("compressed model is corrupt (CRC-32 mismatch)")
    reader = Reader(data[preamble_size:-4])
    model = reader.text("model name")
    if not model or not model.isprintable():
        raise PrunelabError("header: model must be a non-empty string of printable characters")
    metadata = _metadata(reader.text("metadata"))
    layers, kept = [], {}
    for _ in range(reader.varint("layer count")):
        layer, units = _read_layer(reader, kept[layers[-1].name] if layers else None)
        if layer.name in kept:
            raise PrunelabError("header: duplicate layer name")
        layers.append(layer)
        kept[layer.name] = units
    reader.end()
    return model, metadata, layers, kept


def _read_layer(reader: Reader, previous: KeptUnits | None):
    name = reader.text("layer name")
    if not name or not name.isprintable():  # printable: it goes into one-line error messages
        raise PrunelabError("header: a name must be a non-empty string of printable characters")
    dims = reader.u8()
    if not 1 <= dims <= MAX_DIMS:
        raise PrunelabError(f"layer {name}: shape has {dims} dimensions")
    shape = tuple(reader.varint(f"layer {name} shape", 1) for _ in range(dims))
    check_positions(shape, f"layer {name}")  # before the streams that might claim them are decoded
    flags, code_bits, index_bits, widths = reader.take(4)
    if flags & ~(SOME_DROPPED | CENTROIDS_HALF | BIAS_HALF):
        raise PrunelabError(f"layer {name}: unknown layer flags {flags:#04x}")
    if not 1 <= code_bits <= 16 or not 1 <= index_bits <= 8:
        raise PrunelabError(f"layer {name}: code_bits {code_bits} or index_bits {index_bits} out of range")
    k = reader.varint(f"layer {name} centroids", 0, 2**code_bits)
    index_lengths_count = reader.varint(f"layer {name} index table entries", 0, 2**index_bits)
    weight_count, index_count, weight_bytes, index_bytes = (
        reader.varint(f"layer {name} {what}") for what in ("weight count", "index count", "weight stream",
                                                            "index stream"))
    units = _read_bitmap(reader, shape[0], name) if flags & SOME_DROPPED else np.arange(shape[0])
    kept = KeptUnits(shape, units)
    compact = compact_shape(kept, previous)
    float_bits, bias_bits = (16 if flags & bit else 32 for bit in (CENTROIDS_HALF, BIAS_HALF))
    centroids = _array(reader.take(k * float_bits // 8), float_bits)
    weight_width, index_width = widths & 0x0F, widths >> 4
    weight_table = reader.take(-(-k * weight_width // 8))
    index_table = reader.take(-(-index_lengths_count * index_width // 8))
    layer = CompressedLayer(
        name=name, shape=compact, index_bits=index_bits, codebook=Codebook(centroids, code_bits),
        weight_code_lengths=length_tables.unpack(weight_table, weight_width, k, k, trim=False),
        index_code_lengths=length_tables.unpack(index_table, index_width, index_lengths_count, 2**index_bits,
                                                trim=True),
        weight_stream=reader.take(weight_bytes), weight_count=weight_count,
        index_stream=reader.take(index_bytes), index_count=index_count,
        bias=_array(reader.take(compact[0] * bias_bits // 8), bias_bits), float_bits=float_bits,
        bias_bits=bias_bits)
    try:
        layer.verify()
    except PrunelabError as exc:
        raise PrunelabError(f"layer {name} is corrupt: {exc}") from exc
    return layer, kept


def _bitmap(kept: KeptUnits) -> bytes:
    bits = np.zeros(kept.shape[0], dtype=bool)
    bits[kept.units] = True
    return np.packbits(bits, bitorder="little").tobytes()


def _read_bitmap(reader: Reader, units: int, name: str) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(reader.take(-(-units // 8)), dtype=np.uint8), bitorder="little")
    if bits[units:].any():
        raise PrunelabError(f"layer {name}: kept-unit bitmap has non-zero padding bits")
    kept = np.flatnonzero(bits[:units])
    if kept.size in (0, units):
        raise PrunelabError(f"layer {name}: kept-unit bitmap keeps {kept.size} of {units} units")
    return kept


def metadata_text(metadata: dict) -> str:
    return json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _metadata(raw: str) -> dict:
    metadata = header.strict_json(raw.encode("utf-8"))  # as versions 1 and 2 read their header
    if not isinstance(metadata, dict):
        raise PrunelabError("header: metadata must be an object")
    if metadata_text(metadata) != raw:
        raise PrunelabError("compressed model metadata is not in canonical form")
    return metadata


def _array(payload: bytes, float_bits: int) -> np.ndarray:
    return np.frombuffer(payload, dtype=_FLOAT[float_bits]).astype(np.float32)


def _floats(array: np.ndarray, float_bits: int) -> bytes:
    return np.ascontiguousarray(array, dtype=_FLOAT[float_bits]).tobytes()
