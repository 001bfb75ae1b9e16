"""Storage accounting: one small layer checked by hand, and LeNet-5 fc1 next to the paper's figures."""

import numpy as np
import pytest
from compression_helpers import sparse_layer

from prunelab.compression.container import CompressedModel
from prunelab.compression.kmeans import Codebook
from prunelab.compression.layer import pack_layer
from prunelab.compression.storage import COLUMNS, storage_table


def small_model():
    # the worked example of docs/file-format.md: a 2x3 layer, 4 survivors, 3 centroids
    mask = np.array([[1, 1, 0], [1, 0, 1]], bool)
    codes = np.array([[1, 0, 0], [2, 0, 1]])
    codebook = Codebook(np.array([-0.25, 0.5, 1.0], np.float32), bits=2)
    layer = pack_layer("fc", codebook, codes, mask, index_bits=2, bias=np.zeros(2, np.float32))
    # 10 positions, one survivor at 5, 2-bit indices (M = 3): gaps 0, 3, 0 (two fillers)
    lonely = np.zeros(10, bool)
    lonely[5] = True
    other = pack_layer("out", Codebook(np.array([7.0], np.float32), bits=1), np.zeros(10, int), lonely, 2)
    return CompressedModel("toy", {}, [layer, other])


def test_small_layer_by_hand():
    fc, out, total = storage_table(small_model())
    assert list(fc) == list(COLUMNS)
    # weight codes 1,0,2,1 with Huffman lengths [2,1,2]: 1+2+2+1 = 6 bits; gaps 1,1,2,2 with
    # lengths 1 each: 4 bits; codebook 3 x 32 = 96 bits; dense: 6 x 32 = 192 bits
    assert fc == {
        "layer": "fc", "weights": 6, "kept": 4, "density_pct": pytest.approx(400 / 6),
        "index_entries": 4, "fillers": 0,
        "weight_bits": 2, "weight_bits_huffman": 1.5, "index_bits": 2, "index_bits_huffman": 1.0,
        "weight_code_bits": 8, "weight_code_bits_huffman": 6, "index_total_bits": 8, "index_total_bits_huffman": 4,
        "codebook_bits": 96, "total_bits": 112, "total_bits_huffman": 106,
        "size_pct": pytest.approx(11200 / 192), "size_pct_huffman": pytest.approx(10600 / 192),
        "compression": pytest.approx(192 / 112), "compression_huffman": pytest.approx(192 / 106),
    }
    # one weight of 1 bit (length 1), three index entries of 2 bits (gap lengths: 0 -> 1, 3 -> 1)
    assert (out["kept"], out["index_entries"], out["fillers"]) == (1, 3, 2)
    assert (out["total_bits"], out["total_bits_huffman"]) == (1 + 6 + 32, 1 + 3 + 32)
    assert total["layer"] == "total"
    assert (total["weights"], total["kept"], total["index_entries"]) == (16, 5, 7)
    assert total["total_bits"] == 112 + 39 and total["total_bits_huffman"] == 106 + 36
    assert total["size_pct"] == pytest.approx(100 * 151 / (16 * 32))
    assert total["weight_bits"] == pytest.approx((4 * 2 + 1 * 1) / 5)
    assert total["weight_bits_huffman"] == pytest.approx((6 + 1) / 5)


def test_empty_model_has_only_a_zero_total():
    (total,) = storage_table(CompressedModel("nothing"))
    assert total["weights"] == 0 and total["size_pct"] == 0.0 and total["weight_bits_huffman"] == 0.0


def test_lenet5_fc1_next_to_the_paper():
    """Han et al. 2016 table 2, LeNet-5 fc1 (800x500, 8 % kept, 5-bit codes, 5-bit indices):
    2.7 % of dense before Huffman, 2.45 % after. Ours on magnitude-pruned Gaussian weights: the
    fixed-width figure lands close (our fillers carry no weight code: about 0.1 point less); the
    Huffman gain is larger because the survivors of a Gaussian are two skewed tails."""
    layer = sparse_layer("fc1.weight", (800, 500), 0.08, 5, 5, seed=0, bias=False)
    (row, _) = storage_table(CompressedModel("lenet5-caffe", {}, [layer]))
    assert row["density_pct"] == pytest.approx(8.0, abs=0.01)
    assert 0.05 < row["fillers"] / row["kept"] < 0.10  # P(gap > 31) = 0.92**31 = 7.5 %
    assert 2.5 < row["size_pct"] < 2.7
    assert 2.0 < row["size_pct_huffman"] < 2.45
    assert row["index_bits_huffman"] < 5 and row["weight_bits_huffman"] < 5


def test_file_parts_account_for_every_byte_of_the_file(tmp_path):
    from compression_helpers import two_layer_model

    from prunelab.compression import file_parts

    model = two_layer_model()
    path = tmp_path / "m.plc"
    model.write(path)
    parts = file_parts(model, path.stat().st_size)
    assert sum(parts.values()) == path.stat().st_size
    assert parts["codebooks"] == 4 * sum(layer.codebook.size for layer in model.layers)
    assert parts["biases"] == 4 * (20 + 50) and parts["other parameters"] == 4 * 500
    assert parts["header and framing"] > 0
