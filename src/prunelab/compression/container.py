"""The compressed model: what Deep Compression stores on disk, as one validated value.

Han, Mao & Dally (2016) report sizes but specify no file format; ours (docs/file-format.md) holds,
per weight-shared layer, the codebook, the two canonical Huffman code-length tables, the Huffman
coded weight codes and relative indices, and the bias; plus the parameters kept uncompressed.
Every section carries its length and a CRC-32, and the reader refuses any damaged file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from prunelab.compression import fileformat
from prunelab.compression.layer import MAX_DIMS, CompressedLayer
from prunelab.compression.units import KeptUnits, compact_shapes
from prunelab.errors import PrunelabError
from prunelab.foundations.files import write_bytes


@dataclass(frozen=True, eq=False)
class CompressedModel:
    """``model``: architecture name (e.g. "lenet5-caffe"); ``metadata``: small JSON-able dict;
    ``layers``: the weight-shared layers in order; ``dense``: float32 parameters stored as they are
    (anything not weight-shared; a weight-shared layer's bias lives in its ``CompressedLayer``).

    ``kept``, for a compact model (format version 3): layer name -> ``KeptUnits``, the layer's
    original shape and the original units it keeps. The layers then form a chain in their compact
    shapes, each with a bias, and there are no dense parameters. None: layers in their original
    shapes (versions 1 and 2)."""

    model: str
    metadata: dict = field(default_factory=dict)
    layers: list[CompressedLayer] = field(default_factory=list)
    dense: dict[str, np.ndarray] = field(default_factory=dict)
    kept: dict[str, KeptUnits] | None = None

    def __post_init__(self):
        if not isinstance(self.model, str) or not self.model:
            raise PrunelabError("a compressed model needs a non-empty architecture name")
        metadata = fileformat.normalised_metadata(self.metadata)
        if not isinstance(metadata, dict):
            raise PrunelabError("model metadata must be a dict")
        object.__setattr__(self, "metadata", metadata)
        layers = list(self.layers)
        if not all(isinstance(layer, CompressedLayer) for layer in layers):
            raise PrunelabError("layers must be CompressedLayer values")
        if len({layer.name for layer in layers}) != len(layers):
            raise PrunelabError("two compressed layers share a name")
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "dense", {name: _frozen_dense(name, a) for name, a in dict(self.dense).items()})
        owned = {name for layer in layers for name in (layer.name, f"{layer.name}.weight", f"{layer.name}.bias")}
        if owned & set(self.dense):  # a dense 'conv1.bias' would silently replace layer conv1's own bias
            raise PrunelabError(f"dense parameter {sorted(owned & set(self.dense))[0]} belongs to a compressed layer")
        if self.kept is not None:
            _check_compact(self)

    @property
    def is_compact(self) -> bool:
        return self.kept is not None

    def original_shape(self, name: str) -> tuple[int, ...]:
        """A layer's weight shape in the original architecture."""
        return self.kept[name].shape if self.kept is not None else self.layer(name).shape

    def layer(self, name: str) -> CompressedLayer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise PrunelabError(f"no compressed layer named {name!r}")

    def to_bytes(self) -> bytes:
        return fileformat.encode_model(self.model, self.metadata, self.layers, self.dense, self.kept)

    @classmethod
    def from_bytes(cls, data: bytes) -> CompressedModel:
        """Parse and verify; raises PrunelabError (one line) for any damage or inconsistency."""
        model, metadata, layers, dense, kept = fileformat.decode_model(data)
        return cls(model=model, metadata=metadata, layers=layers, dense=dense, kept=kept)

    def write(self, path) -> None:
        """Write atomically (temporary file, then rename)."""
        write_bytes(path, self.to_bytes())

    @classmethod
    def read(cls, path) -> CompressedModel:
        from prunelab.compression.fileformat import MAX_FILE_BYTES
        from prunelab.foundations.files import read_regular

        data = read_regular(path, MAX_FILE_BYTES, "compressed model file")
        try:
            return cls.from_bytes(data)
        except PrunelabError as exc:
            raise PrunelabError(f"{path}: {exc}") from exc


def _check_compact(model: CompressedModel) -> None:
    kept = dict(model.kept)
    if list(kept) != [layer.name for layer in model.layers] or not all(isinstance(k, KeptUnits) for k in kept.values()):
        raise PrunelabError("a compact model needs the kept units of every layer, in layer order")
    if model.dense:
        raise PrunelabError("a compact model stores every parameter in its layers (no dense parameters)")
    for layer, shape in zip(model.layers, compact_shapes(list(kept.values()))):
        if layer.shape != shape:
            raise PrunelabError(f"layer {layer.name} has shape {layer.shape}, its kept units imply {shape}")
        if layer.bias is None or layer.bias.shape != shape[:1]:
            raise PrunelabError(f"layer {layer.name} of a compact model needs a bias of {shape[0]} values")
    object.__setattr__(model, "kept", kept)


def _frozen_dense(name, array) -> np.ndarray:
    if not isinstance(name, str) or not name:
        raise PrunelabError("dense parameter names must be non-empty strings")
    if not isinstance(array, np.ndarray) or array.dtype != np.float32 or array.ndim > MAX_DIMS:
        raise PrunelabError(f"dense parameter {name} must be a float32 array of at most {MAX_DIMS} dimensions")
    if not np.isfinite(array).all():
        raise PrunelabError(f"dense parameter {name} holds NaN or infinite values")
    frozen = array.copy()
    frozen.flags.writeable = False
    return frozen
