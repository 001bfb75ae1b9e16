"""Quantizing a user's pruned model, writing and reading the compressed file, ONNX and C exports.

The file is the compact format 3 (docs/file-format.md) with the input shape in its metadata;
``load`` puts its weights back into a module of the same layers, matched by parameter name.
"""

import copy
from pathlib import Path

import torch

from prunelab.api.data import batches, check_training, classes_of, input_shape_of
from prunelab.compress import load_into, pack_model
from prunelab.compression import CompressedModel
from prunelab.deploy.batchnorm import fold_batchnorm, has_batchnorm
from prunelab.deploy.compact import compact_model
from prunelab.errors import PrunelabError
from prunelab.foundations.files import write_bytes, write_together
from prunelab.pruning.mask import Mask
from prunelab.training.loop import train_batches
from prunelab.training.weight_sharing import CentroidOptimizer, SharedWeights, layer_bits


def quantize(model: torch.nn.Module, mask: Mask, data=None, *, conv_bits: int = 8, fc_bits: int = 5,
             layers: dict | None = None, epochs: int = 1, lr: float = 0.0005, momentum: float = 0.9,
             batch_size: int = 128, init: str = "linear", seed: int = 0, progress: bool = True) -> SharedWeights:
    """Trained quantization (Han, Mao & Dally 2016, section 3) in place: k-means per layer on the
    surviving weights, then ``epochs`` of centroid fine-tuning on ``data`` (none when data is None).
    ``layers`` ({"fc1": 4}) gives named layers their own code width. BatchNorm layers are first
    folded into the layer before them (in place: they become nn.Identity), as the file stores the
    model. Returns the codebooks, which ``save`` needs."""
    if not isinstance(mask, Mask):
        raise PrunelabError(f"quantize needs the mask that prune returned (a prunelab.Mask), got "
                            f"{type(mask).__name__}")
    for bits in (conv_bits, fc_bits):
        if not isinstance(bits, int) or not 1 <= bits <= 16:
            raise PrunelabError(f"code widths must be integers in 1..16, got {bits!r}")
    widths = {f"{name}.weight": bits for name, bits in (layers or {}).items()}
    fold_batchnorm(model)  # in place: the file holds the folded layers
    shared = SharedWeights(model, mask, layer_bits(model, mask, conv_bits, fc_bits, widths), init, seed)
    if data is not None and epochs:
        check_training(batch_size, epochs, lr, momentum)
        classes = classes_of(model, data)
        optimizer = CentroidOptimizer(model, shared, lr, momentum)
        generator = torch.Generator().manual_seed(seed)
        for epoch in range(epochs):
            train_batches(model, optimizer, batches(data, batch_size, generator, classes),
                          progress=f"quantize {epoch + 1}/{epochs}" if progress else None)
    return shared


def save(model: torch.nn.Module, path, codebooks: SharedWeights, *, input_shape=None, index_bits: int = 5,
         metadata: dict | None = None) -> Path:
    """Write the quantized ``model`` as a compressed file; ``input_shape`` is (C, H, W) or (features,),
    or data to take it from (optional for a model that starts with Linear). Returns the path."""
    shape = input_shape_of(model, input_shape)
    meta = {**(metadata or {}), "input_shape": list(shape)}
    compressed = pack_model(model.cpu().eval(), type(model).__name__, codebooks, index_bits, meta, shape)
    compressed.write(path)
    return Path(path)


def load(path, model: torch.nn.Module) -> torch.nn.Module:
    """Decode the file at ``path`` into ``model`` (in place, by layer name; a module whose layers do
    not match is refused, naming the layer) and return it in eval mode. Its BatchNorm layers are
    folded first (they become nn.Identity): the file holds the folded layers."""
    compressed = CompressedModel.read(path)
    if has_batchnorm(model):  # a file that does not fit is refused before the module changes
        load_into(compressed, fold_batchnorm(copy.deepcopy(model)))
        fold_batchnorm(model)
    return load_into(compressed, model).eval()


def file_input_shape(path) -> tuple[int, ...] | None:
    """The input shape a file records (files from ``prunelab run`` record none: (1, 28, 28))."""
    shape = CompressedModel.read(path).metadata.get("input_shape")
    return tuple(shape) if shape else None


def export_onnx(model: torch.nn.Module, path, *, input_shape=None, compact_model: bool = False) -> Path:
    """A dense ONNX graph of ``model`` (input "pixels" (N, *input_shape), output "scores");
    ``compact_model`` exports the compact model instead (dead units dropped, lossless)."""
    from prunelab.deploy.module import to_module
    from prunelab.export import onnx_bytes

    shape = input_shape_of(model, input_shape)
    module = to_module(compact_model(model, shape).graph) if compact_model else model.cpu().eval()
    write_bytes(path, onnx_bytes(module, shape))
    return Path(path)


def export_c(model: torch.nn.Module, folder, *, name: str = "model", input_shape=None,
             weights: str = "codebook", batch: int = 1) -> tuple[Path, Path]:
    """The compact model as C99 ``<name>.h`` and ``<name>.c`` in ``folder`` (docs/c-export.md); the
    model must be made of the operations docs/api.md lists (residual adds and concatenations included)."""
    from prunelab.deploy.cgen import generate

    if weights not in ("codebook", "float"):
        raise PrunelabError(f"weights must be 'codebook' or 'float', not {weights!r}")
    graph = compact_model(model, input_shape_of(model, input_shape)).graph
    header, source = generate(graph, name, weights=weights, batch=batch, comment=f"From {type(model).__name__}.")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise PrunelabError(f"{folder} exists and is not a folder")
    write_together({folder / f"{name}.h": header.encode(), folder / f"{name}.c": source.encode()})
    return folder / f"{name}.h", folder / f"{name}.c"
