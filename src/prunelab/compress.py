"""Between a model and its compressed file: pack a model compactly, unpack it to the original
architecture or to its compact graph, and rewrite older files in the compact format."""

import copy
from dataclasses import replace
from math import prod

import numpy as np
import torch

from prunelab import models
from prunelab.compression import CompressedModel, KeptUnits, pack_layer
from prunelab.compression.layer import is_half_exact
from prunelab.compression.kmeans import Codebook
from prunelab.compression.units import expand
from prunelab.deploy import graph as g
from prunelab.deploy import opspec
from prunelab.deploy.batchnorm import fold_batchnorm, has_batchnorm
from prunelab.deploy.compact import Compaction, compact, compact_model, widen
from prunelab.errors import PrunelabError
from prunelab.training.weight_sharing import SharedWeights

DEFAULT_INPUT_SHAPE = (1, 28, 28)  # the built-in models' (C, H, W); a file from the Python API records its own
MAX_INPUT_VALUES = 1 << 20  # what a file may declare for one example: a 1024 x 1024 grey image, 3 x 590 x 590


def pack_model(model, name: str, shared: SharedWeights, index_bits: int, metadata: dict,
               input_shape=DEFAULT_INPUT_SHAPE) -> CompressedModel:
    """The weight-shared ``model`` as a compact file (format version 3); ``shared`` gives every
    layer's code width. Centroids and biases are stored as float16 where they are float16 values
    (after ``shared.round_to_half``), else as float32."""
    code_bits = {weight.removesuffix(".weight"): bits for weight, bits in shared.bits.items()}
    return pack_compact(model, name, code_bits, index_bits, metadata, input_shape)


def pack_compact(model, name: str, code_bits: dict, index_bits, metadata: dict,
                 input_shape=DEFAULT_INPUT_SHAPE) -> CompressedModel:
    """Trace ``model``, compact it (``deploy.compact``: lossless) and encode every compact layer;
    ``index_bits`` is one width for all layers or a dict per layer (0: the smallest per layer)."""
    graph = trace_weighted(model, input_shape)
    result = compact(graph)
    if name not in models.REGISTRY:  # the file carries its operations: ONNX and C need no class
        metadata = {**metadata, "graph": opspec.to_spec(graph)}
    original = {op.name: op.weight.shape for op in graph.layers()}
    layers, kept = [], {}
    for op, shape, _ in g.with_shapes(result.graph.ops, tuple(result.graph.input_shape)):
        if not isinstance(op, g.WEIGHTED):
            continue
        if op.name not in code_bits:
            raise PrunelabError(f"layer {op.name} is not weight-shared; the compact file stores only shared layers")
        width = index_bits[op.name] if isinstance(index_bits, dict) else index_bits
        layers.append(encode_layer(op.name, full_width(op, shape), op.bias, code_bits[op.name], width))
        kept[op.name] = KeptUnits(original[op.name], result.kept[op.name])
    return CompressedModel(model=name, metadata=metadata, layers=layers, kept=kept)


def trace_weighted(model, input_shape=DEFAULT_INPUT_SHAPE) -> g.Graph:
    """``model`` as a graph, refusing parameters that are not a weighted layer's weight or bias
    (BatchNorm's are folded into its layer first, in a copy)."""
    if has_batchnorm(model):
        model = fold_batchnorm(copy.deepcopy(model))
    graph = g.trace(model, input_shape)
    covered = {f"{op.name}.{part}" for op in graph.layers() for part in ("weight", "bias")}
    extra = sorted(n for n, _ in model.named_parameters() if n not in covered)
    if extra:
        raise PrunelabError(f"a compact file cannot hold {', '.join(extra)} (only convolution and linear layers)")
    return graph


def full_width(op, shape) -> np.ndarray:
    """A layer's weights over its whole input (a Dense that reads some inputs gets zero columns)."""
    return widen(op, prod(shape)).weight if isinstance(op, g.Dense) else op.weight


def encode_layer(name: str, weight: np.ndarray, bias: np.ndarray, code_bits: int, index_bits: int):
    """One compact layer: its nonzero weights are codebook values, so the codebook is the distinct
    values (the used centroids, ascending) and the codes index them."""
    mask = weight != 0
    centroids = np.unique(weight[mask]).astype(np.float32)
    codes = np.where(mask, np.searchsorted(centroids, weight), 0).astype(np.int32)
    if centroids.size > 2**code_bits:
        raise PrunelabError(f"layer {name} holds {centroids.size} distinct weights, more than {code_bits}-bit codes")
    bias = np.asarray(bias, np.float32)
    return pack_layer(name, Codebook(centroids, code_bits), codes, mask, index_bits, bias=bias,
                      float_bits=16 if is_half_exact(centroids) else 32,
                      bias_bits=16 if is_half_exact(bias) else 32)


def recompress(compressed: CompressedModel, index_bits: int | None = None, model_name: str | None = None) -> CompressedModel:
    """A file of any version as a compact one (decode, compact, encode), keeping each layer's code
    width and, unless ``index_bits`` is given, its index width. A compact file comes back as it is.
    ``model_name``: see ``architecture``."""
    widths = {layer.name: layer.index_bits for layer in compressed.layers} if index_bits is None else index_bits
    code_bits = {layer.name: layer.codebook.bits for layer in compressed.layers}
    return pack_compact(unpack_model(compressed, model_name), compressed.model, code_bits, widths,
                        compressed.metadata, file_input_shape(compressed))


def architecture(compressed: CompressedModel, model_name: str | None = None) -> torch.nn.Module:
    """A fresh module for the file's weights: the model the user named (``model_name``, from the
    command line or Python: it may be MODULE:FACTORY), else the built-in model the file names. A
    name read from the file is never imported (``models.build_builtin``)."""
    model = models.build(model_name) if model_name is not None else models.build_builtin(compressed.model)
    return fold_batchnorm(model)  # the file holds the folded layers


def unpack_model(compressed: CompressedModel, model_name: str | None = None) -> torch.nn.Module:
    """Build the architecture (``architecture``) and load the decoded weights into it."""
    return load_into(compressed, architecture(compressed, model_name)).eval()


def load_into(compressed: CompressedModel, model: torch.nn.Module) -> torch.nn.Module:
    """Load the decoded weights into ``model`` by parameter name, after checking that every name and
    shape matches both ways (nothing is written into a module that does not fit). A compact file's
    dropped units get zero weights and biases (they output zero, and nothing reads them)."""
    params = dict(model.named_parameters())
    check_layer_order(compressed, params)
    check_declared_shapes(compressed, params, type(model).__name__)
    arrays = {}

    def give(name: str, array) -> None:
        if name in arrays:  # e.g. a crafted dense entry named like a layer's bias
            raise PrunelabError(f"compressed file gives '{name}' twice")
        arrays[name] = array

    for name, (weight, bias) in original_layers(compressed).items():
        give(f"{name}.weight", weight)
        if bias is not None:
            give(f"{name}.bias", bias)
    for name, array in compressed.dense.items():
        give(name, array)
    for name, array in arrays.items():
        if name not in params:
            raise PrunelabError(f"the file has '{name}', which the {type(model).__name__} has not "
                                f"(file made from {_shown(compressed.model)})")
        if tuple(params[name].shape) != tuple(array.shape):
            raise PrunelabError(f"the file's '{name}' has shape {tuple(array.shape)}, the model's "
                                f"{tuple(params[name].shape)}")
    missing = sorted(set(params) - set(arrays))
    if missing:
        raise PrunelabError(f"the file (from {_shown(compressed.model)}) lacks {', '.join(missing)} of the "
                            f"{type(model).__name__}")
    with torch.no_grad():
        for name, array in arrays.items():
            params[name].copy_(torch.from_numpy(np.array(array, dtype=np.float32)))
    return model


def check_declared_shapes(compressed: CompressedModel, params: dict, architecture_name: str) -> None:
    """Every layer's declared original shape against the model, before any layer is unpacked: a file
    may declare shapes far larger than its bytes (a sparse layer's size is bounded only by fillers),
    and unpacking allocates the full shape."""
    for layer in compressed.layers:
        declared, weight = compressed.original_shape(layer.name), params.get(f"{layer.name}.weight")
        if weight is None:
            raise PrunelabError(f"the file has '{layer.name}.weight', which the {architecture_name} has not "
                                f"(file made from {_shown(compressed.model)})")
        if tuple(weight.shape) != tuple(declared):
            raise PrunelabError(f"the file's '{layer.name}.weight' has shape {tuple(declared)}, the model's "
                                f"{tuple(weight.shape)}")


def _shown(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def original_layers(compressed: CompressedModel) -> dict:
    """Layer name -> (weight, bias or None) in the original architecture's shapes."""
    if not compressed.is_compact:
        return {layer.name: (layer.unpack(), layer.bias) for layer in compressed.layers}
    layers, previous = {}, None
    for layer in compressed.layers:
        entry = compressed.kept[layer.name]
        layers[layer.name] = expand(layer.unpack(), layer.bias, entry, previous)
        previous = entry
    return layers


def compact_graph(compressed: CompressedModel, model_name: str | None = None) -> g.Graph:
    """The compact model as a ``Graph``: a compact file's layers as stored (a Dense reads only the
    inputs some weight uses), an older file's compacted on the way. ``model_name``: see ``architecture``."""
    if not compressed.is_compact:
        return compact_model(unpack_model(compressed, model_name), file_input_shape(compressed)).graph
    if has_own_graph(compressed, model_name):
        shapes = {layer.name: compressed.original_shape(layer.name) for layer in compressed.layers}
        skeleton = g.Graph(opspec.skeleton(compressed.metadata["graph"], shapes), file_input_shape(compressed))
    else:
        skeleton = g.trace(architecture(compressed, model_name), file_input_shape(compressed))
    if [op.name for op in skeleton.layers()] != [layer.name for layer in compressed.layers]:
        raise PrunelabError(f"the file's layers are not those of {_shown(compressed.model)}")
    graph = g.Graph(_filled(skeleton.ops, compressed), skeleton.input_shape)
    graph.shapes()  # every layer fits the one before
    return graph


def _filled(ops, compressed: CompressedModel) -> list:
    """``ops`` with each weighted layer's weights and bias from the file, as stored (compact)."""
    filled = []
    for op in ops:
        if isinstance(op, g.WEIGHTED):
            layer = compressed.layer(op.name)
            if compressed.original_shape(op.name) != tuple(op.weight.shape):  # before unpacking it
                raise PrunelabError(f"the file's '{op.name}.weight' has shape {compressed.original_shape(op.name)}, "
                                    f"the model's {tuple(op.weight.shape)}")
            op = replace(op, weight=layer.unpack(), bias=np.array(layer.bias, np.float32))
            op = _read_only_used_inputs(op) if isinstance(op, g.Dense) else op
        elif isinstance(op, g.Merge):
            op = replace(op, branches=tuple(tuple(_filled(branch, compressed)) for branch in op.branches))
        filled.append(op)
    return filled


def has_own_graph(compressed: CompressedModel, model_name: str | None = None) -> bool:
    """Whether the compact graph comes from the file's own operations: a compact file made from a
    model that is not built in, opened without naming the model."""
    return (model_name is None and compressed.is_compact and compressed.model not in models.REGISTRY
            and "graph" in compressed.metadata)


def _read_only_used_inputs(op: g.Dense) -> g.Dense:
    """As ``deploy.compact`` leaves a Dense: only the input features some weight reads."""
    read = op.weight.any(axis=0)
    if read.all():
        return op
    if not read.any():
        read[0] = True
    return replace(op, weight=np.ascontiguousarray(op.weight[:, read]), inputs=np.flatnonzero(read))


def compaction(compressed: CompressedModel, model_name: str | None = None) -> Compaction:
    """The compact graph with the original units each layer keeps and the original architecture."""
    if not compressed.is_compact:
        return compact_model(unpack_model(compressed, model_name), file_input_shape(compressed))
    kept = {name: entry.units for name, entry in compressed.kept.items()}
    original = "-".join(str(entry.shape[0]) for entry in compressed.kept.values())
    return Compaction(compact_graph(compressed, model_name), kept, original)


def compaction_summary(compressed: CompressedModel, model_name: str | None = None) -> dict:
    """Architecture before and after compaction and the MACs per image of each (``Compaction.summary``)."""
    original = g.trace(unpack_model(compressed, model_name), file_input_shape(compressed))
    return compaction(compressed, model_name).summary(original)


def check_layer_order(compressed: CompressedModel, params: dict) -> None:
    """The layers must come in the architecture's order: the format has one encoding per model."""
    stored, order = in_model_order([layer.name for layer in compressed.layers], params)
    if order != stored:
        raise PrunelabError(f"the file's layers ({', '.join(stored)}) are not in {compressed.model}'s order "
                            f"({', '.join(order)})")


def in_model_order(names: list[str], params) -> tuple[list[str], list[str]]:
    """(``names`` that are the model's layers, in their order; the same in the order the model
    registers their weights (``params``: parameter names))."""
    order = [name.removesuffix(".weight") for name in params if name.endswith(".weight")]
    stored = [name for name in names if name in order]
    return stored, [name for name in order if name in stored]


def file_input_shape(compressed: CompressedModel) -> tuple[int, ...]:
    """The (C, H, W) a file records, else the built-in models' (1, 28, 28)."""
    shape = compressed.metadata.get("input_shape")
    if shape is None:
        return DEFAULT_INPUT_SHAPE
    if not isinstance(shape, list) or not 1 <= len(shape) <= 3 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape):
        raise PrunelabError(f"the file's input_shape {_shown(repr(shape))} is not a list of 1 to 3 positive integers")
    if prod(shape) > MAX_INPUT_VALUES:  # bench and evaluate allocate batches of this shape
        raise PrunelabError(f"the file's input_shape {shape} declares {prod(shape):,} values an example, more than "
                            f"{MAX_INPUT_VALUES:,}")
    return tuple(shape)


def is_compressed_file(path) -> bool:
    from prunelab.compression.fileformat import MAGIC

    with open(path, "rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC
