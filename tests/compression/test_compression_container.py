"""The compressed model and its file: exact round trips (bit for bit), atomic writing, validation."""

import os
from math import prod

import numpy as np
import pytest
from compression_helpers import sparse_layer, two_layer_model
from hypothesis import given, settings
from hypothesis import strategies as st

from prunelab.compression.container import CompressedModel
from prunelab.compression.kmeans import Codebook, cluster, dequantize
from prunelab.compression.layer import CompressedLayer, pack_layer
from prunelab.errors import PrunelabError


def bits_of(array):
    return np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)


def same_bits(a, b):
    return a.shape == b.shape and np.array_equal(bits_of(a), bits_of(b))


finite_f32 = st.one_of(
    st.floats(width=32, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, 3.4028235e38]),
)
# every finite float32 bit pattern (subnormals and -0 included); NaN and infinities are refused
any_f32_bits = st.integers(0, 2**32 - 1).filter(lambda word: (word >> 23) & 0xFF != 0xFF)
shapes = st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple)


def raw_f32(words, shape):
    return np.array(words, dtype=np.uint32).view(np.float32).reshape(shape)


@st.composite
def quantized_layers(draw, name):
    shape = draw(shapes)
    size = prod(shape)
    mask = np.array(draw(st.lists(st.booleans(), min_size=size, max_size=size)), dtype=bool).reshape(shape)
    bits = draw(st.integers(1, 8))
    k = draw(st.integers(1 if mask.any() else 0, min(2**bits, 12)))
    centroids = np.array(draw(st.lists(finite_f32, min_size=k, max_size=k)), dtype=np.float32)
    codes = np.array(draw(st.lists(st.integers(0, max(k - 1, 0)), min_size=size, max_size=size)))
    codes = np.where(mask.ravel(), codes, 0).reshape(shape)
    bias = None
    if draw(st.booleans()):
        bias = raw_f32(draw(st.lists(any_f32_bits, min_size=shape[0], max_size=shape[0])), shape[:1])
    return (name, Codebook(centroids, bits), codes, mask, draw(st.integers(1, 8)), bias)


json_values = st.one_of(st.none(), st.booleans(), st.integers(-(10**9), 10**9),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 3).flatmap(lambda n: st.tuples(*[quantized_layers(f"layer{i}.weight") for i in range(n)])),
    st.dictionaries(st.text(min_size=1, max_size=6), st.lists(any_f32_bits, max_size=6), max_size=3),
    st.dictionaries(st.text(max_size=6), json_values, max_size=4),
)
def test_round_trip_is_bit_exact(layer_args, dense_words, metadata):
    layers = [pack_layer(*args) for args in layer_args]
    dense = {name: raw_f32(words, (len(words),)) for name, words in dense_words.items()}
    model = CompressedModel("lenet5-caffe", metadata, layers, dense)
    data = model.to_bytes()
    back = CompressedModel.from_bytes(data)
    assert back.model == "lenet5-caffe" and back.metadata == metadata
    assert [layer.name for layer in back.layers] == [args[0] for args in layer_args]
    for layer, (_, codebook, codes, mask, index_bits, bias) in zip(back.layers, layer_args):
        assert layer.shape == codes.shape and layer.index_bits == index_bits
        assert layer.codebook.bits == codebook.bits and same_bits(layer.codebook.centroids, codebook.centroids)
        assert same_bits(layer.unpack(), dequantize(codebook, codes, mask))
        assert (layer.bias is None) == (bias is None) and (bias is None or same_bits(layer.bias, bias))
    assert list(back.dense) == list(dense)
    assert all(same_bits(back.dense[name], dense[name]) for name in dense)
    assert back.to_bytes() == data  # one encoding per model


finite_f16 = st.floats(width=16, allow_nan=False, allow_infinity=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(shapes, st.integers(1, 6), st.booleans(), st.booleans()), min_size=1, max_size=3), st.data())
def test_float16_layers_round_trip_bit_exact_in_format_version_2(specs, data):
    layers = []
    for number, (shape, k, has_bias, half) in enumerate(specs):
        size = prod(shape)
        centroids = np.array(data.draw(st.lists(finite_f16, min_size=k, max_size=k, unique=True)), np.float32)
        codes = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=size, max_size=size))).reshape(shape)
        mask = np.ones(shape, bool)
        bias = np.array(data.draw(st.lists(finite_f16, min_size=shape[0], max_size=shape[0])), np.float32) \
            if has_bias else None
        layers.append(pack_layer(f"l{number}.weight", Codebook(centroids, 3), codes, mask, 3, bias,
                                 float_bits=16 if half else 32))
    data_bytes = CompressedModel("lenet5", {}, layers, {}).to_bytes()
    assert data_bytes[8] == (2 if any(half for *_, half in specs) else 1)  # version 1 unless needed
    back = CompressedModel.from_bytes(data_bytes)
    for layer, original in zip(back.layers, layers):
        assert layer.float_bits == original.float_bits
        assert same_bits(layer.codebook.centroids, original.codebook.centroids)
        assert same_bits(layer.unpack(), original.unpack())
        assert (layer.bias is None) == (original.bias is None)
        assert layer.bias is None or same_bits(layer.bias, original.bias)
    assert back.to_bytes() == data_bytes


def test_float16_storage_halves_the_codebook_and_bias_sections_and_nothing_else():
    from compression_helpers import split_file

    (_, full), (header, half) = (split_file(m.to_bytes()) for m in (two_layer_model(), two_layer_model(16)))
    fc = 6  # the fc layer's sections: codebook, two length tables, two streams, bias
    assert [len(p) for p in half[fc:fc + 6]] == [len(full[fc]) // 2] + [len(p) for p in full[fc + 1:fc + 5]] + \
        [len(full[fc + 5]) // 2]
    assert half[:fc] == full[:fc] and half[fc + 1:fc + 5] == full[fc + 1:fc + 5] and half[fc + 6:] == full[fc + 6:]
    assert [entry["float_bits"] for entry in header["layers"]] == [32, 16]


def test_unpack_gives_the_quantized_weights_with_zeros_where_pruned():
    weights = np.array([[0.5, -0.25, 0.7], [1.0, 0.3, 0.5]], dtype=np.float32)
    mask = np.array([[1, 1, 0], [1, 0, 1]], bool)
    codebook, codes = cluster(weights, mask, bits=2)
    layer = pack_layer("fc", codebook, codes, mask, index_bits=2)
    restored = layer.unpack()
    assert restored.dtype == np.float32 and restored.shape == (2, 3)
    assert restored.tolist() == [[0.5, -0.25, 0.0], [1.0, 0.0, 0.5]]
    back_codes, back_mask = layer.unpack_codes()
    assert np.array_equal(back_codes, codes) and np.array_equal(back_mask, mask)


def test_write_and_read_atomically(tmp_path):
    model = two_layer_model()
    path = tmp_path / "models" / "lenet.plc"
    model.write(path)
    assert os.listdir(path.parent) == ["lenet.plc"]  # no temporary file left behind
    back = CompressedModel.read(path)
    assert back.to_bytes() == model.to_bytes() == path.read_bytes()
    for mine, theirs in zip(model.layers, back.layers):
        assert same_bits(mine.unpack(), theirs.unpack())


def test_read_reports_missing_and_corrupt_files_with_the_path(tmp_path):
    with pytest.raises(PrunelabError, match="could not read"):
        CompressedModel.read(tmp_path / "absent.plc")
    (tmp_path / "bad.plc").write_bytes(b"not a model")
    with pytest.raises(PrunelabError, match="bad.plc: not a prunelab"):
        CompressedModel.read(tmp_path / "bad.plc")
    with pytest.raises(PrunelabError):
        CompressedModel.from_bytes("text, not bytes")


def test_empty_layers_and_models_round_trip():
    empty = sparse_layer("dead.weight", (30, 40), 0.0, 5, 3, seed=0, bias=False)
    assert empty.weight_count == 0 and empty.codebook.size == 0
    for model in (CompressedModel("mlp"), CompressedModel("mlp", {}, [empty])):
        back = CompressedModel.from_bytes(model.to_bytes())
        for mine, theirs in zip(model.layers, back.layers, strict=True):
            assert np.array_equal(mine.unpack(), theirs.unpack())


def test_model_validates_itself():
    layer = sparse_layer("fc.weight", (4, 4), 0.5, 2, 2, seed=0)
    with pytest.raises(PrunelabError, match="share a name"):
        CompressedModel("m", {}, [layer, layer])
    with pytest.raises(PrunelabError, match="belongs to a compressed layer"):
        CompressedModel("m", {}, [layer], {"fc.weight": np.zeros(1, np.float32)})
    for metadata in ({"x": float("nan")}, {"x": {1, 2}}, ["not", "a", "dict"]):
        with pytest.raises(PrunelabError):
            CompressedModel("m", metadata)
    with pytest.raises(PrunelabError):
        CompressedModel("", {})
    with pytest.raises(PrunelabError):
        CompressedModel("m", {}, [], {"w": np.zeros(3)})  # float64
    model = CompressedModel("m", {"sizes": (1, 2)}, [], {"w": np.zeros(3, np.float32)})
    assert model.metadata == {"sizes": [1, 2]}  # stored as it will read back
    assert not model.dense["w"].flags.writeable
    assert CompressedModel("m", {}, [layer]).layer("fc.weight") is layer
    with pytest.raises(PrunelabError):
        model.layer("nope")


def test_layer_validates_itself():
    good = sparse_layer("fc.weight", (4, 4), 0.5, 2, 2, seed=0)
    fields = dict(vars(good))
    for change in (
        {"weight_code_lengths": np.zeros(3, np.uint8)},  # one per centroid expected
        {"index_code_lengths": np.ones(4, np.uint8)},  # Kraft: four codewords of one bit
        {"shape": (4, 0)},
        {"index_bits": 9},
        {"weight_count": 17},
        {"bias": np.zeros(4)},
    ):
        with pytest.raises(PrunelabError):
            CompressedLayer(**{**fields, **change})
    with pytest.raises(PrunelabError, match="centroid"):
        pack_layer("x", Codebook(np.zeros(1, np.float32), 1), np.array([1]), np.array([True]), 2)
    for bits in (8, 64, True):
        with pytest.raises(PrunelabError, match="float_bits"):
            CompressedLayer(**{**fields, "float_bits": bits})
    with pytest.raises(PrunelabError, match="not all float16"):  # 0.1 has no exact float16
        CompressedLayer(**{**fields, "bias": np.full(4, 0.1, np.float32), "float_bits": 16})


def test_the_documented_worked_example_is_byte_exact():
    """docs/file-format.md walks through these 383 bytes; the format must not drift from it."""
    mask = np.array([[1, 1, 0], [1, 0, 1]], bool)
    codebook = Codebook(np.array([-0.25, 0.5, 1.0], np.float32), bits=2)
    layer = pack_layer("fc", codebook, np.array([[1, 0, 0], [2, 0, 1]]), mask, 2, np.array([0.1, -0.0], np.float32))
    data = CompressedModel("lenet5-caffe", {"dataset": "mnist"}, [layer], {"bn.scale": np.ones(2, np.float32)}).to_bytes()
    assert len(data) == 383
    assert data[:16].hex(" ") == "89 50 4c 43 0d 0a 1a 0a 01 00 00 00 0e 01 00 00"
    assert data[16:286].startswith(b'{"dense":[{"name":"bn.scale","sections":[8],"shape":[2]}],"layers":[{')
    assert data[286:].hex(" ") == (
        "74 2a 60 a0 0c 00 00 00 00 00 80 be 00 00 00 3f 00 00 80 3f 40 4e e2 b3 03 00 00 00 02 01 02 11 5d d0 0b "
        "04 00 00 00 00 01 01 00 6a 84 9d 39 01 00 00 00 58 4b 36 b2 b7 01 00 00 00 30 21 df db f4 "
        "08 00 00 00 cd cc cc 3d 00 00 00 80 a8 59 1f 5d 08 00 00 00 00 00 80 3f 00 00 80 3f 90 51 06 d5"
    )


@pytest.mark.parametrize("density", [0.002, 0.05, 0.6])
def test_index_width_zero_chooses_the_smallest_index_and_round_trips(density):
    from prunelab.compression.layer import index_bytes, smallest_index_bits

    rng = np.random.default_rng(7)
    weights = rng.normal(size=(100, 400)).astype(np.float32)
    mask = np.abs(weights) > np.quantile(np.abs(weights), 1 - density)
    codebook, codes = cluster(weights, mask, bits=5)
    chosen = smallest_index_bits(mask.ravel())
    assert index_bytes(mask.ravel(), chosen) == min(index_bytes(mask.ravel(), b) for b in range(1, 9))
    layer = pack_layer("fc1.weight", codebook, codes, mask, index_bits=0)
    assert layer.index_bits == chosen
    back = CompressedModel.from_bytes(CompressedModel("lenet5-caffe", {}, [layer], {}).to_bytes()).layers[0]
    assert same_bits(back.unpack(), dequantize(codebook, codes, mask))


def test_sparser_layers_get_wider_indices():
    from prunelab.compression.layer import smallest_index_bits

    rng = np.random.default_rng(8)
    scores = rng.random(40_000)
    widths = [smallest_index_bits(scores > 1 - density) for density in (0.5, 0.05, 0.002)]
    assert widths[0] < widths[1] < widths[2]
