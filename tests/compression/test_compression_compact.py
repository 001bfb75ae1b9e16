"""Format version 3, the compact model: exact round trips, the way back to the original architecture,
bit-packed code-length tables, and forged files refused."""

import numpy as np
import pytest
import torch
from compression_helpers import compact_model, sparse_layer
from hypothesis import given, settings
from hypothesis import strategies as st

from prunelab import models
from prunelab.compress import compact_graph, compaction_summary, pack_model, recompress, unpack_model
from prunelab.compression import CompressedModel, KeptUnits, file_parts, storage_table
from prunelab.compression import length_tables
from prunelab.compression.binary import Reader, varint
from prunelab.compression.units import compact_shapes, expand
from prunelab.deploy.module import to_module
from prunelab.errors import PrunelabError
from prunelab.pruning import criteria
from prunelab.pruning.mask import Mask
from prunelab.training.weight_sharing import SharedWeights, layer_bits

MODEL = compact_model()
DATA = MODEL.to_bytes()


def bits(array):
    return np.ascontiguousarray(array, np.float32).view(np.uint32)


def test_a_compact_model_is_written_as_version_3_and_reads_back_bit_for_bit():
    assert DATA[8:12] == b"\x03\x00\x00\x00"
    back = CompressedModel.from_bytes(DATA)
    assert back.to_bytes() == DATA and back.model == "toy-chain" and back.metadata == MODEL.metadata
    for mine, theirs in zip(MODEL.layers, back.layers, strict=True):
        assert theirs.shape == mine.shape and (theirs.float_bits, theirs.bias_bits) == (mine.float_bits, mine.bias_bits)
        assert np.array_equal(bits(theirs.unpack()), bits(mine.unpack()))
        assert np.array_equal(bits(theirs.bias), bits(mine.bias))
        assert np.array_equal(back.kept[mine.name].units, MODEL.kept[mine.name].units)
    assert back.original_shape("fc1") == (5, 24) and back.layer("fc1").shape == (3, 16)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_compact_chain_round_trips_bit_for_bit(data):
    chain, layers = [], []
    for _ in range(data.draw(st.integers(1, 3))):
        units = data.draw(st.integers(1, 6))
        per_unit = data.draw(st.integers(1, 3))
        inputs = data.draw(st.integers(1, 4)) if not chain else chain[-1].shape[0] * per_unit
        kept = data.draw(st.lists(st.booleans(), min_size=units, max_size=units).filter(any))
        chain.append(KeptUnits((units, inputs), np.flatnonzero(kept)))
    for number, shape in enumerate(compact_shapes(chain)):
        layer = sparse_layer(f"l{number}", shape, data.draw(st.sampled_from([0.0, 0.3, 1.0])), 3,
                             data.draw(st.integers(1, 8)), seed=number, float_bits=data.draw(st.sampled_from([16, 32])))
        layers.append(layer)
    model = CompressedModel("chain", {"n": len(layers)}, layers, {}, {f"l{n}": k for n, k in enumerate(chain)})
    encoded = model.to_bytes()
    assert CompressedModel.from_bytes(encoded).to_bytes() == encoded


def test_expanding_puts_compact_values_at_the_kept_units_and_zeros_elsewhere():
    conv, fc = KeptUnits((3, 1, 1, 1), np.array([0, 2])), KeptUnits((2, 6), np.array([1]))  # 2 features a channel
    weight, bias = expand(np.array([[1, 2, 3, 4]], np.float32), np.array([9], np.float32), fc, conv)
    assert weight.tolist() == [[0, 0, 0, 0, 0, 0], [1, 2, 0, 0, 3, 4]] and bias.tolist() == [0, 9]
    assert compact_shapes([conv, fc]) == [(2, 1, 1, 1), (1, 4)]
    with pytest.raises(PrunelabError, match="cannot read"):
        compact_shapes([conv, KeptUnits((2, 7), np.array([0]))])
    for units in ([], [1, 0], [3]):
        with pytest.raises(PrunelabError):
            KeptUnits((3, 1), np.array(units, np.int64))


def pruned_lenet_300_100():
    torch.manual_seed(0)
    model = models.build("lenet-300-100")
    mask = criteria.magnitude_per_layer(dict(model.named_parameters()), Mask.ones_like(model), 0.97)
    mask.apply_to(model)
    shared = SharedWeights(model, mask, layer_bits(model, mask, 8, 5))
    shared.round_to_half(model)
    return model.eval(), shared


def test_the_file_decodes_to_the_original_architecture_with_the_compact_models_predictions():
    model, shared = pruned_lenet_300_100()
    stored = CompressedModel.from_bytes(pack_model(model, "lenet-300-100", shared, 0, {}).to_bytes())
    compact_arch = compact_graph(stored).architecture()
    assert stored.is_compact and compact_arch != "300-100-10" and compact_arch.endswith("-10")
    images = torch.rand(200, 1, 28, 28)
    decoded = unpack_model(stored)  # the registry's architecture, dropped units zero
    with torch.no_grad():
        full, small, original = decoded(images), to_module(compact_graph(stored))(images), model(images)
    assert torch.equal(full.argmax(1), small.argmax(1)) and torch.equal(full.argmax(1), original.argmax(1))
    assert torch.allclose(full, small, atol=1e-4)
    fc1 = decoded.fc1.weight.detach().numpy()
    dropped = np.setdiff1d(np.arange(300), stored.kept["fc1"].units)
    assert dropped.size and not fc1[dropped].any() and not decoded.fc1.bias.detach().numpy()[dropped].any()
    summary = compaction_summary(stored)
    assert summary["architecture"] == "300-100-10" and summary["compact_architecture"] == compact_arch
    assert summary["macs_compact_dense"] < summary["macs_dense"]


def test_an_older_file_is_rewritten_compact_with_the_same_predictions_and_rewriting_again_changes_nothing():
    model, shared = pruned_lenet_300_100()
    from prunelab.compression import pack_layer, used_centroids

    layers = []  # the model as the version 2 writer stored it
    for weight_name, keep in shared.mask.items():
        name = weight_name.removesuffix(".weight")
        codebook, codes = used_centroids(shared.codebook(weight_name), shared.codes[weight_name].numpy(), keep.numpy())
        layers.append(pack_layer(name, codebook, codes, keep.numpy(), 5, getattr(model, name).bias.detach().numpy(), 16))
    v2 = CompressedModel.from_bytes(CompressedModel("lenet-300-100", {"dataset": "mnist"}, layers).to_bytes())
    assert v2.to_bytes()[8] == 2 and not v2.is_compact
    v3 = recompress(v2)
    assert v3.is_compact and len(v3.to_bytes()) < len(v2.to_bytes())
    assert [layer.index_bits for layer in v3.layers] == [5, 5, 5]  # each layer keeps its width
    assert recompress(CompressedModel.from_bytes(v3.to_bytes())).to_bytes() == v3.to_bytes()
    images = torch.rand(200, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(unpack_model(v2)(images).argmax(1), unpack_model(v3)(images).argmax(1))
    for a, b in zip(compact_graph(v2).layers(), compact_graph(v3).layers(), strict=True):
        assert np.array_equal(bits(a.weight), bits(b.weight)) and np.array_equal(bits(a.bias), bits(b.bias))


def test_file_parts_and_the_storage_table_of_a_compact_file():
    parts = file_parts(MODEL, len(DATA))
    assert sum(parts.values()) == len(DATA)
    assert parts["kept-unit bitmaps"] == 1 + 1  # conv1 (6 units) and fc1 (5 units); fc2 keeps all
    assert parts["biases"] == 2 * 4 + 4 * 3 + 4 * 3  # conv1 float16, fc1 and fc2 float32
    assert parts["header and framing"] > 0
    rows = storage_table(MODEL)
    assert [r["weights"] for r in rows[:-1]] == [54, 120, 15]  # original sizes: the paper's baseline


def test_code_length_tables_are_packed_in_the_fewest_bits():
    lengths = np.array([1, 3, 3, 2, 0, 0, 0, 0], np.uint8)
    assert length_tables.pack(lengths, trim=True) == (2, 4, bytes([0b01111110]))
    assert length_tables.pack(lengths, trim=False) == (2, 8, bytes([0b01111110, 0]))
    assert np.array_equal(length_tables.unpack(bytes([0b01111110]), 2, 4, 8, trim=True), lengths)
    wide = np.array([24, 1, 0], np.uint8)
    assert length_tables.pack(wide, trim=False)[:2] == (5, 3) and length_tables.packed_bytes(wide, False) == 2
    for raw, width, count in ((bytes([0b01111101]), 2, 3),  # padding bits set
                              (bytes([0b00100100]), 3, 2),  # lengths 1, 1 in 3 bits: not the smallest width
                              (bytes([0b01111100]), 2, 4),  # last stored length is 0: too many entries
                              (bytes([0b01111100, 0]), 2, 4)):  # a byte too many
        with pytest.raises(PrunelabError):
            length_tables.unpack(raw, width, count, 8, trim=True)


def test_varints_have_one_encoding_below_two_to_the_32():
    assert varint(0) == b"\x00" and varint(300) == b"\xac\x02" and Reader(b"\xac\x02").varint("x") == 300
    for raw in (b"\x80\x00", b"\x80\x80\x80\x80\x10", b"\xff\xff\xff\xff\xff\x01", b"\x80"):
        with pytest.raises(PrunelabError):
            Reader(raw).varint("x")
    with pytest.raises(PrunelabError):
        varint(2**32)


def test_a_compact_model_validates_itself():
    layers = MODEL.layers
    with pytest.raises(PrunelabError, match="kept units of every layer"):
        CompressedModel("m", {}, layers, {}, dict(list(MODEL.kept.items())[:2]))
    with pytest.raises(PrunelabError, match="imply"):
        CompressedModel("m", {}, layers, {}, {**MODEL.kept, "fc1": KeptUnits((5, 24), np.array([1, 2]))})
    with pytest.raises(PrunelabError, match="dense"):
        CompressedModel("m", {}, layers, {"x": np.zeros(1, np.float32)}, MODEL.kept)
    with pytest.raises(PrunelabError, match="format version 3"):  # a bias width of its own
        CompressedModel("m", {}, layers[1:2]).to_bytes()


def test_the_documented_version_3_example_is_byte_exact():
    """docs/file-format.md walks through these 76 bytes; the format must not drift from it."""
    from prunelab.compression import Codebook, pack_layer

    mask = np.array([[1, 1, 0], [1, 0, 1]], bool)
    layer = pack_layer("fc", Codebook(np.array([-0.25, 0.5, 1.0], np.float32), 2), np.array([[1, 0, 0], [2, 0, 1]]),
                       mask, 2, np.array([0.1, -0.0], np.float32), float_bits=16, bias_bits=32)
    data = CompressedModel("toy", {"dataset": "mnist"}, [layer], {}, {"fc": KeptUnits((3, 3), np.array([0, 2]))}).to_bytes()
    assert data.hex(" ") == (
        "89 50 4c 43 0d 0a 1a 0a 03 00 00 00 03 74 6f 79 13 7b 22 64 61 74 61 73 65 74 22 3a 22 6d 6e 69 73 74 22 7d "
        "01 02 66 63 02 03 03 03 02 02 12 03 03 04 04 01 01 05 00 b4 00 38 00 3c 98 60 58 30 "
        "cd cc cc 3d 00 00 00 80 4e e0 63 31")
