"""The per-layer tables a run prints stay aligned when a user's layer names are long."""

from prunelab.cli.commands import format_storage
from prunelab.pruning.report import format_table


def test_the_pruning_table_widens_its_name_column_for_long_layer_names():
    rows = [{"layer": name, "weights": 512, "kept": 174, "density": 0.34, "macs_dense": 25_088, "macs_pruned": 8_526}
            for name in ("conv1", "block2.shortcut.0", "total")]
    lines = format_table(rows).splitlines()
    assert len({len(line) for line in lines}) == 1  # every row as wide as the header: columns line up
    assert all(line.index("512") == lines[1].index("512") for line in lines[1:])


def test_the_storage_table_widens_its_name_column_for_long_layer_names():
    row = dict(kept=174, density_pct=33.98, weight_bits=8.0, weight_bits_huffman=6.3, index_bits=2.0,
               index_bits_huffman=2.0, size_pct=29.25, size_pct_huffman=27.48, compression=3.4, compression_huffman=3.6)
    lines = format_storage([dict(row, layer="block2.shortcut.0"), dict(row, layer="fc")]).splitlines()
    assert lines[2].index("174") == lines[3].index("174") and lines[2].startswith("block2.shortcut.0 ")
