"""The JSON header of a compressed-model file: written from the model, checked field by field on read.

The header is compact JSON (sorted keys, no spaces, ASCII). A reader accepts only the exact text
this module writes, so there is one encoding per model; every number is checked for type and range
and every section length against what the other fields imply, before any of it is used.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from prunelab.compression.layer import FLOAT_BITS
from prunelab.errors import PrunelabError

MAX_DIMS = 8
_LAYER_KEYS = {"name", "shape", "code_bits", "index_bits", "centroids", "weight_count", "index_count",
               "bias_shape", "sections"}
_LAYER_KEYS_V2 = _LAYER_KEYS | {"float_bits"}
_DENSE_KEYS = {"name", "shape", "sections"}
_TOP_KEYS = {"model", "metadata", "layers", "dense"}


@dataclass(frozen=True)
class Plan:
    model: str
    metadata: dict
    layers: list[dict]
    dense: list[dict]
    section_lengths: list[int]


def describe(model: str, metadata: dict, layers, dense: dict, lengths: list[int], version: int = 1) -> dict:
    """The header dict for a model whose sections have byte ``lengths`` (in file order); version 2
    adds each layer's ``float_bits``."""
    lengths = iter(lengths)
    layer_table = []
    for layer in layers:
        bias_shape = None if layer.bias is None else list(layer.bias.shape)
        entry = {
            "name": layer.name,
            "shape": list(layer.shape),
            "code_bits": layer.codebook.bits,
            "index_bits": layer.index_bits,
            "centroids": layer.codebook.size,
            "weight_count": layer.weight_count,
            "index_count": layer.index_count,
            "bias_shape": bias_shape,
            "sections": [next(lengths) for _ in range(5 if bias_shape is None else 6)],
        }
        if version >= 2:
            entry["float_bits"] = layer.float_bits
        layer_table.append(entry)
    dense_table = [{"name": name, "shape": list(array.shape), "sections": [next(lengths)]}
                   for name, array in dense.items()]
    return {"model": model, "metadata": metadata, "layers": layer_table, "dense": dense_table}


def dumps(table: dict) -> bytes:
    text = json.dumps(table, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.encode("ascii")


def parse(text: bytes, version: int = 1) -> Plan:
    """Validate the header text of a file of format ``version``. Section lengths are only
    range-checked here (< 2**32); the caller compares their sum with the bytes actually present
    before reading any section."""
    table = strict_json(text)
    if dumps(table) != text:
        raise PrunelabError("compressed model header is not in canonical form")
    _keys(table, _TOP_KEYS, "header")
    if not isinstance(table["model"], str) or not table["model"]:
        raise PrunelabError("header: model must be a non-empty string")
    if not isinstance(table["metadata"], dict):
        raise PrunelabError("header: metadata must be an object")
    layers, dense = _list(table["layers"], "layers"), _list(table["dense"], "dense")
    lengths = []
    for entry in layers:
        lengths += _check_layer(entry, version)
    if version >= 2 and not any(entry["float_bits"] == 16 for entry in layers):
        raise PrunelabError("header: a version 2 file with no float16 layer must be written as version 1")
    for entry in dense:
        _keys(entry, _DENSE_KEYS, "dense entry")
        _name(entry)
        size = math.prod(_shape(entry["shape"], 0, "dense shape"))
        lengths += _sections(entry, [4 * size])
    _unique([e["name"] for e in layers], "layer")
    _unique([e["name"] for e in dense], "dense parameter")
    return Plan(table["model"], table["metadata"], layers, dense, lengths)


def strict_json(text: bytes):
    """ASCII JSON without duplicate keys, NaN or infinities (json's own errors pass through)."""
    return json.loads(text.decode("ascii"), object_pairs_hook=_unique_keys, parse_constant=_no_constant,
                      parse_float=_finite)


def _check_layer(entry, version: int) -> list[int]:
    _keys(entry, _LAYER_KEYS_V2 if version >= 2 else _LAYER_KEYS, "layer entry")
    _name(entry)
    _shape(entry["shape"], 1, "layer shape")
    code_bits = _int(entry["code_bits"], 1, 16, "code_bits")
    index_bits = _int(entry["index_bits"], 1, 8, "index_bits")
    k = _int(entry["centroids"], 0, 2**code_bits, "centroids")
    _int(entry["weight_count"], 0, None, "weight_count")
    _int(entry["index_count"], 0, None, "index_count")
    float_bytes = 4
    if version >= 2:
        if entry["float_bits"] not in FLOAT_BITS or isinstance(entry["float_bits"], bool):
            raise PrunelabError(f"header: float_bits {entry['float_bits']!r} is not 16 or 32")
        float_bytes = entry["float_bits"] // 8
    expected = [float_bytes * k, k, 2**index_bits, None, None]
    if entry["bias_shape"] is not None:
        expected.append(float_bytes * math.prod(_shape(entry["bias_shape"], 0, "bias shape")))
    return _sections(entry, expected)


def _sections(entry: dict, expected: list) -> list[int]:
    declared = _list(entry["sections"], "sections")
    if len(declared) != len(expected):
        raise PrunelabError(f"header: {entry['name']} lists {len(declared)} sections, expected {len(expected)}")
    for length, want in zip(declared, expected):
        _int(length, 0, 2**32 - 1, "section length")
        if want is not None and length != want:
            raise PrunelabError(f"header: {entry['name']} has a section of {length} bytes, "
                                f"its fields imply {want}")
    return declared


def _shape(shape, smallest: int, what: str) -> list[int]:
    shape = _list(shape, what)
    if len(shape) > MAX_DIMS or (smallest and not shape):
        raise PrunelabError(f"header: {what} has {len(shape)} dimensions")
    return [_int(n, smallest, 2**32 - 1, what) for n in shape]


def _int(value, low: int, high: int | None, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        raise PrunelabError(f"header: {what} {value!r} is not an integer in range")
    return value


def _list(value, what: str) -> list:
    if not isinstance(value, list):
        raise PrunelabError(f"header: {what} must be a list")
    return value


def _keys(entry, keys: set, what: str) -> None:
    if not isinstance(entry, dict) or set(entry) != keys:
        raise PrunelabError(f"header: {what} does not have the expected fields")


def _name(entry: dict) -> None:
    if not isinstance(entry["name"], str) or not entry["name"]:
        raise PrunelabError("header: a name must be a non-empty string")


def _unique(names: list[str], what: str) -> None:
    if len(set(names)) != len(names):
        raise PrunelabError(f"header: duplicate {what} name")


def _unique_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise PrunelabError("header: duplicate key in a JSON object")
    return dict(pairs)


def _no_constant(name):
    raise PrunelabError(f"header: {name} is not allowed")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise PrunelabError("header: a number is not finite")
    return value
