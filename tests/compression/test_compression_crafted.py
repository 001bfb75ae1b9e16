"""Crafted files whose checksums are all valid: what the reader must still refuse, for format
versions 1/2 (layers in original shapes, dense parameters beside them) and 3 (compact)."""

import numpy as np
import pytest
from compression_helpers import compact_model, sparse_layer

from prunelab.compress import unpack_model
from prunelab.compression.container import CompressedModel
from prunelab.compression.layer import pack_layer
from prunelab.errors import PrunelabError


def lenet5_caffe_layers():
    shapes = {"conv1": (20, 1, 5, 5), "conv2": (50, 20, 5, 5), "fc1": (500, 800), "fc2": (10, 500)}
    return [sparse_layer(name, shape, 0.3, 5, 5, seed=i) for i, (name, shape) in enumerate(shapes.items())]


def test_a_complete_lenet5_caffe_file_round_trips_through_bytes():
    model = CompressedModel("lenet5-caffe", {"dataset": "mnist"}, lenet5_caffe_layers())
    again = CompressedModel.from_bytes(model.to_bytes())
    assert [layer.name for layer in again.layers] == ["conv1", "conv2", "fc1", "fc2"]
    unpack_model(again)


def test_a_dense_entry_shadowing_a_layers_bias_is_refused():
    layers = lenet5_caffe_layers()
    with pytest.raises(PrunelabError, match="dense parameter conv1.bias belongs to a compressed layer"):
        CompressedModel("lenet5-caffe", {}, layers, {"conv1.bias": np.zeros(20, np.float32)})


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_non_finite_bias_is_refused_as_non_finite_centroids_are(value):
    layer = sparse_layer("fc2", (10, 500), 0.3, 5, 5, seed=1)
    bias = layer.bias.copy()
    bias[3] = value
    with pytest.raises(PrunelabError, match="layer fc2: bias holds NaN or infinite values"):
        pack_layer("fc2", layer.codebook, *layer.unpack_codes(), 5, bias=bias)
    with pytest.raises(PrunelabError, match="dense parameter fc2.bias holds NaN or infinite values"):
        CompressedModel("lenet5-caffe", {}, [], {"fc2.bias": bias})


def test_a_permuted_layer_order_is_refused_in_versions_1_and_2():
    layers = lenet5_caffe_layers()
    permuted = CompressedModel.from_bytes(CompressedModel("lenet5-caffe", {}, [layers[2], *layers[:2], layers[3]]).to_bytes())
    with pytest.raises(PrunelabError, match=r"the file's layers \(fc1, conv1, conv2, fc2\) are not in lenet5-caffe's order"):
        unpack_model(permuted)


def test_a_permuted_layer_order_is_refused_in_version_3():
    model = compact_model()
    with pytest.raises(PrunelabError, match="in layer order"):
        CompressedModel(model.model, model.metadata, model.layers[::-1], {}, model.kept)
    with pytest.raises(PrunelabError, match="cannot read the 5 units of the layer before it"):  # kept permuted too
        CompressedModel(model.model, model.metadata, model.layers[::-1], {}, dict(reversed(list(model.kept.items()))))
