"""One weight-shared, sparse, Huffman-coded layer: Deep Compression's three stages put together.

``pack_layer`` turns a layer's (codebook, codes, mask) into two Huffman-coded streams (Han, Mao &
Dally 2016, figure 1): the weight codes of the surviving weights in row-major order, and the
relative indices that say where they sit (see ``sparse_index`` for the filler scheme). Each stream
has its own canonical code, kept as one length per symbol. ``CompressedLayer.verify`` decodes both
and checks every count and bound in memory proportional to the streams; ``unpack`` then gives back
exactly the quantized weights (and is the only step that allocates the layer's full shape).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from prunelab.compression import huffman, length_tables
from prunelab.compression.kmeans import Codebook, dequantize
from prunelab.compression.sparse_index import MAX_INDEX_BITS, encode_relative_indices, relative_positions
from prunelab.errors import PrunelabError

MAX_DIMS = 8
FLOAT_BITS = (16, 32)
# The most weight positions a layer may declare: 16.8 M (64 MiB as float32), 16x LeNet-300-100
# whole and far past the small models prunelab is for. A sparse layer's size is bounded by its
# bits only through fillers (one bit can stand for 255 positions), so without a cap a 1.8 MB file
# could make its reader allocate a 60,000 x 60,000 layer.
MAX_POSITIONS = 1 << 24


def is_half_exact(values: np.ndarray) -> bool:
    """True when every float32 value survives a round trip through IEEE binary16 unchanged."""
    with np.errstate(over="ignore"):
        back = values.astype(np.float16).astype(np.float32)
    return bool(np.array_equal(back.view(np.uint32), values.astype(np.float32).view(np.uint32)))


@dataclass(frozen=True, eq=False)
class CompressedLayer:
    """A layer as stored: shape, codebook, two code-length tables, two streams, optional bias."""

    name: str
    shape: tuple[int, ...]
    index_bits: int
    codebook: Codebook
    weight_code_lengths: np.ndarray  # uint8, one per centroid
    index_code_lengths: np.ndarray  # uint8, one per gap value 0..2**index_bits - 1
    weight_stream: bytes
    weight_count: int  # surviving weights = symbols in weight_stream
    index_stream: bytes
    index_count: int  # relative-index entries, fillers included
    bias: np.ndarray | None = None
    float_bits: int = 32  # how the file stores centroids (and bias): 32 or 16 (values must be float16-exact)
    bias_bits: int | None = None  # how it stores the bias, if not as float_bits (format version 3 only)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise PrunelabError("a compressed layer needs a non-empty name")
        object.__setattr__(self, "shape", _check_shape(self.shape, self.name))
        if not isinstance(self.codebook, Codebook):
            raise PrunelabError(f"layer {self.name}: codebook must be a Codebook")
        bits = self.index_bits
        if not isinstance(bits, (int, np.integer)) or isinstance(bits, bool) or not 1 <= bits <= MAX_INDEX_BITS:
            raise PrunelabError(f"layer {self.name}: index_bits must be an integer in 1..{MAX_INDEX_BITS}")
        object.__setattr__(self, "index_bits", int(bits))
        alphabets = {"weight_code_lengths": self.codebook.size, "index_code_lengths": 2**self.index_bits}
        for table, alphabet in alphabets.items():
            _freeze(self, table, _check_lengths(getattr(self, table), alphabet, self.name))
        _check_streams(self)
        if self.bias is not None:
            if not isinstance(self.bias, np.ndarray) or self.bias.dtype != np.float32 or self.bias.ndim > MAX_DIMS:
                raise PrunelabError(f"layer {self.name}: bias must be a float32 array")
            if not np.isfinite(self.bias).all():  # as for centroids: a NaN bias makes a NaN model
                raise PrunelabError(f"layer {self.name}: bias holds NaN or infinite values")
            _freeze(self, "bias", self.bias)
        if self.bias_bits is None:
            object.__setattr__(self, "bias_bits", self.float_bits)
        for width in ("float_bits", "bias_bits"):
            bits = getattr(self, width)
            if bits not in FLOAT_BITS or isinstance(bits, bool):
                raise PrunelabError(f"layer {self.name}: {width} must be 16 or 32, got {bits!r}")
            object.__setattr__(self, width, int(bits))
        for part, values, bits in (("centroids", self.codebook.centroids, self.float_bits),
                                   ("bias", self.bias, self.bias_bits)):
            if bits == 16 and values is not None and not is_half_exact(values):
                raise PrunelabError(f"layer {self.name}: {part} are not all float16 values; round them first")

    @property
    def size(self) -> int:
        return prod(self.shape)

    def index_gaps(self) -> np.ndarray:
        """The decoded relative indices (fillers included), int64."""
        return huffman.decode(self.index_stream, self.index_code_lengths, self.index_count)

    def kept_codes(self) -> np.ndarray:
        """The decoded weight codes of the surviving weights, in row-major order, int64."""
        return huffman.decode(self.weight_stream, self.weight_code_lengths, self.weight_count)

    def kept_positions(self) -> np.ndarray:
        """Flat (row-major) positions of the surviving weights, int64, checked against ``shape``."""
        positions = relative_positions(self.index_gaps(), self.index_bits, self.size)
        if positions.size != self.weight_count:
            raise PrunelabError(f"layer {self.name}: index stream and weight count disagree")
        return positions

    def verify(self) -> None:
        """Decode both streams and check every count and bound, in memory proportional to the
        streams (not to ``shape``): what the reader runs on every layer it loads."""
        self.kept_positions()
        codes = self.kept_codes()
        if codes.size and codes.max() >= self.codebook.size:  # impossible: one length per centroid
            raise PrunelabError(f"layer {self.name}: a weight code refers to a centroid that does not exist")

    def unpack_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """(codes int32, mask bool), both of ``shape``; codes are 0 where the mask is False."""
        positions = self.kept_positions()
        codes = np.zeros(self.size, dtype=np.int32)
        codes[positions] = self.kept_codes()
        mask = np.zeros(self.size, dtype=bool)
        mask[positions] = True
        return codes.reshape(self.shape), mask.reshape(self.shape)

    def unpack(self) -> np.ndarray:
        """The quantized weights (float32, ``shape``), exactly; 0.0 at pruned positions."""
        codes, mask = self.unpack_codes()
        return dequantize(self.codebook, codes, mask)


def index_bytes(mask_flat: np.ndarray, index_bits: int) -> int:
    """Bytes the index of a layer takes at this width: the Huffman-coded gaps (fillers included)
    and the table of code lengths as format version 3 packs it."""
    gaps = encode_relative_indices(mask_flat, index_bits)
    lengths = huffman.code_lengths(np.bincount(gaps, minlength=2**index_bits))
    return -(-int(lengths[gaps].astype(np.int64).sum()) // 8) + length_tables.packed_bytes(lengths, trim=True)


def smallest_index_bits(mask_flat: np.ndarray) -> int:
    """The index width (1..MAX_INDEX_BITS) with the fewest bytes: sparser layers need wider gaps,
    or fillers (one entry for every 2^b - 1 positions skipped) outweigh what the width saves."""
    return min(range(1, MAX_INDEX_BITS + 1), key=lambda bits: (index_bytes(mask_flat, bits), bits))


def pack_layer(
    name: str,
    codebook: Codebook,
    codes: np.ndarray,
    mask: np.ndarray,
    index_bits: int,
    bias: np.ndarray | None = None,
    float_bits: int = 32,
    bias_bits: int | None = None,
) -> CompressedLayer:
    """Encode a weight-shared layer; ``codes`` and ``mask`` as returned by ``kmeans.cluster``.
    ``index_bits`` 0 chooses the width that makes this layer's index smallest; ``float_bits`` 16
    stores centroids and bias in half precision (they must already be float16 values); ``bias_bits``
    gives the bias its own width (format version 3)."""
    codes, mask = np.asarray(codes), np.asarray(mask)
    dequantize(codebook, codes, mask)  # validates shapes, dtypes and code range
    kept = codes[mask].astype(np.int64)  # row-major order, the order the index stream visits
    if index_bits == 0:
        index_bits = smallest_index_bits(mask.ravel())
    gaps = encode_relative_indices(mask.ravel(), index_bits)
    weight_lengths = huffman.code_lengths(np.bincount(kept, minlength=codebook.size))
    index_lengths = huffman.code_lengths(np.bincount(gaps, minlength=2**index_bits))
    return CompressedLayer(
        name=name,
        shape=tuple(int(n) for n in codes.shape),
        index_bits=index_bits,
        codebook=codebook,
        weight_code_lengths=weight_lengths,
        index_code_lengths=index_lengths,
        weight_stream=huffman.encode(kept, weight_lengths),
        weight_count=int(kept.size),
        index_stream=huffman.encode(gaps, index_lengths),
        index_count=int(gaps.size),
        bias=bias,
        float_bits=float_bits,
        bias_bits=bias_bits,
    )


def _check_shape(shape, name: str) -> tuple[int, ...]:
    if not isinstance(shape, (tuple, list)) or not 1 <= len(shape) <= MAX_DIMS:
        raise PrunelabError(f"layer {name}: shape must have 1..{MAX_DIMS} dimensions")
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in shape):
        raise PrunelabError(f"layer {name}: shape must hold positive integers, got {list(shape)}")
    check_positions(shape, f"layer {name}")
    return tuple(int(n) for n in shape)


def check_positions(shape, what: str) -> None:
    """Refuse a declared shape of more than ``MAX_POSITIONS`` weights (before anything is allocated)."""
    if prod(int(n) for n in shape) > MAX_POSITIONS:
        raise PrunelabError(f"{what}: shape {tuple(int(n) for n in shape)} declares more than {MAX_POSITIONS:,} "
                            f"weights, past what a compressed file may hold")


def _check_streams(layer: CompressedLayer) -> None:
    for stream in ("weight_stream", "index_stream"):
        if not isinstance(getattr(layer, stream), bytes):
            raise PrunelabError(f"layer {layer.name}: {stream} must be bytes")
    for count in ("weight_count", "index_count"):
        value = getattr(layer, count)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise PrunelabError(f"layer {layer.name}: {count} must be a non-negative integer")
    if layer.weight_count > min(layer.size, layer.index_count):
        raise PrunelabError(f"layer {layer.name}: more weights than positions or index entries")


def _check_lengths(lengths, alphabet: int, name: str) -> np.ndarray:
    if not isinstance(lengths, np.ndarray) or lengths.dtype != np.uint8 or lengths.shape != (alphabet,):
        raise PrunelabError(f"layer {name}: a code-length table must be {alphabet} uint8 values")
    if lengths.size and lengths.max() > huffman.MAX_CODE_LENGTH:
        raise PrunelabError(f"layer {name}: a code length exceeds {huffman.MAX_CODE_LENGTH} bits")
    huffman.code_table(lengths)  # Kraft's inequality
    return lengths


def _freeze(layer: CompressedLayer, field: str, array: np.ndarray) -> None:
    frozen = array.copy()
    frozen.flags.writeable = False
    object.__setattr__(layer, field, frozen)
