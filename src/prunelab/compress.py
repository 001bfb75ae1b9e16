"""Between a model and its compressed file: pack weight-shared layers, unpack into a model."""

import numpy as np
import torch

from prunelab import models
from prunelab.compression import CompressedModel, pack_layer, used_centroids
from prunelab.errors import PrunelabError
from prunelab.training.weight_sharing import SharedWeights


def pack_model(model, name: str, shared: SharedWeights, index_bits: int, metadata: dict,
               float_bits: int = 32) -> CompressedModel:
    """Every prunable layer as codebook (the centroids its weights use) + Huffman-coded streams,
    centroids and bias stored with ``float_bits`` (16 after ``shared.round_to_half``); other
    parameters stored as float32."""
    params = {n: p.detach().cpu() for n, p in model.named_parameters()}
    layers, covered = [], set()
    for weight_name, keep in shared.mask.items():
        layer = weight_name.removesuffix(".weight")
        bias = params.get(f"{layer}.bias")
        codebook, codes = used_centroids(shared.codebook(weight_name), shared.codes[weight_name].cpu().numpy(),
                                         keep.numpy())
        layers.append(pack_layer(layer, codebook, codes, keep.numpy(), index_bits,
                                 bias=None if bias is None else bias.numpy(), float_bits=float_bits))
        covered |= {weight_name, f"{layer}.bias"}
    dense = {n: p.numpy().astype(np.float32) for n, p in params.items() if n not in covered}
    return CompressedModel(model=name, metadata=metadata, layers=layers, dense=dense)


def unpack_model(compressed: CompressedModel) -> torch.nn.Module:
    """Build the architecture the file names and load the decoded weights into it."""
    model = models.build(compressed.model)
    params = dict(model.named_parameters())
    loaded = set()
    with torch.no_grad():
        for layer in compressed.layers:
            _copy(params, f"{layer.name}.weight", layer.unpack(), loaded)
            if layer.bias is not None:
                _copy(params, f"{layer.name}.bias", layer.bias, loaded)
        for name, array in compressed.dense.items():
            _copy(params, name, array, loaded)
    missing = set(params) - loaded
    if missing:
        raise PrunelabError(f"compressed file lacks parameters {', '.join(sorted(missing))} of {compressed.model}")
    return model.eval()


def _copy(params: dict, name: str, array, loaded: set) -> None:
    if name not in params:
        raise PrunelabError(f"compressed file has '{name}', which model does not have")
    if tuple(params[name].shape) != tuple(array.shape):
        raise PrunelabError(f"compressed '{name}' has shape {tuple(array.shape)}, model expects {tuple(params[name].shape)}")
    params[name].copy_(torch.from_numpy(np.array(array, dtype=np.float32)))
    loaded.add(name)


def is_compressed_file(path) -> bool:
    from prunelab.compression.fileformat import MAGIC

    with open(path, "rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC
