"""Storage accounting in the form of Deep Compression's per-layer tables (Han, Mao & Dally 2016,
tables 2-3): bits per stored weight and per index entry, before and after Huffman coding, and the
size as a percentage of the dense 32-bit weights.

Bits counted per layer, the paper's way: weight codes, relative indices, and the codebook
(32 bits per centroid, or 16 where the file stores them as float16). Not counted, as in the paper: biases and other dense parameters, the
Huffman code-length tables, the file header and the byte padding of each stream; the real file
size (``len(model.to_bytes())``) is reported separately by the caller.

Departure (see ``sparse_index``): a filler entry costs index bits but no weight code here, so
``index_entries`` = kept weights + fillers while weight bits are charged for kept weights only.
Averages over zero entries are reported as 0.0.
"""

from __future__ import annotations

from math import prod

from prunelab.compression import huffman, length_tables
from prunelab.compression.container import CompressedModel
from prunelab.compression.layer import CompressedLayer
from prunelab.compression.sparse_index import count_fillers

COLUMNS = ("layer", "weights", "kept", "density_pct", "index_entries", "fillers",
           "weight_bits", "weight_bits_huffman", "index_bits", "index_bits_huffman",
           "weight_code_bits", "weight_code_bits_huffman", "index_total_bits", "index_total_bits_huffman",
           "codebook_bits", "total_bits", "total_bits_huffman", "size_pct", "size_pct_huffman",
           "compression", "compression_huffman")
_SUMMED = ("weights", "kept", "index_entries", "fillers", "weight_code_bits", "weight_code_bits_huffman",
           "index_total_bits", "index_total_bits_huffman", "codebook_bits", "total_bits", "total_bits_huffman")


def storage_table(model: CompressedModel) -> list[dict]:
    """One row per compressed layer, then a row named "total" (sums, and ratios of the sums).

    Keys (``COLUMNS``): weights (all positions), kept (surviving weights), density_pct,
    index_entries (kept + fillers), fillers; weight_bits / index_bits: fixed widths per entry, and
    their ``_huffman`` averages; ``*_bits`` totals per part; codebook_bits (float_bits per centroid);
    total_bits and size_pct (of 32 bits per weight position), before and after Huffman;
    compression = dense bits / total bits. The total row's bit widths are averages per entry.
    """
    rows = [_layer_row(layer, prod(model.original_shape(layer.name))) for layer in model.layers]
    total = {key: sum(row[key] for row in rows) for key in _SUMMED}
    total["layer"] = "total"
    total["weight_bits"] = _mean(sum(r["weight_bits"] * r["kept"] for r in rows), total["kept"])
    total["index_bits"] = _mean(sum(r["index_bits"] * r["index_entries"] for r in rows), total["index_entries"])
    return rows + [_ratios(total)]


def _layer_row(layer: CompressedLayer, weights: int) -> dict:
    codes, gaps = layer.kept_codes(), layer.index_gaps()
    weight_huffman = huffman.encoded_bits(codes, layer.weight_code_lengths)
    index_huffman = huffman.encoded_bits(gaps, layer.index_code_lengths)
    row = {
        "layer": layer.name,
        "weights": weights,
        "kept": layer.weight_count,
        "index_entries": layer.index_count,
        "fillers": count_fillers(gaps),
        "weight_bits": layer.codebook.bits,
        "index_bits": layer.index_bits,
        "weight_code_bits": layer.weight_count * layer.codebook.bits,
        "weight_code_bits_huffman": weight_huffman,
        "index_total_bits": layer.index_count * layer.index_bits,
        "index_total_bits_huffman": index_huffman,
        "codebook_bits": layer.float_bits * layer.codebook.size,
    }
    row["total_bits"] = row["weight_code_bits"] + row["index_total_bits"] + row["codebook_bits"]
    row["total_bits_huffman"] = weight_huffman + index_huffman + row["codebook_bits"]
    return _ratios(row)


def _ratios(row: dict) -> dict:
    dense_bits = 32 * row["weights"]
    row["density_pct"] = 100.0 * _mean(row["kept"], row["weights"])
    row["weight_bits_huffman"] = _mean(row["weight_code_bits_huffman"], row["kept"])
    row["index_bits_huffman"] = _mean(row["index_total_bits_huffman"], row["index_entries"])
    row["size_pct"] = 100.0 * _mean(row["total_bits"], dense_bits)
    row["size_pct_huffman"] = 100.0 * _mean(row["total_bits_huffman"], dense_bits)
    row["compression"] = _mean(dense_bits, row["total_bits"])
    row["compression_huffman"] = _mean(dense_bits, row["total_bits_huffman"])
    return {key: row[key] for key in COLUMNS}


def _mean(total: float, count: float) -> float:
    return float(total) / count if count else 0.0



def file_parts(model: CompressedModel, file_bytes: int) -> dict:
    """Where a file's bytes go: the Huffman-coded weight codes and positions (the payload the
    paper counts), codebooks, code-length tables, biases, the kept-unit bitmaps of a compact file
    (version 3), other parameters, and the rest (header, lengths and checksums) as the difference
    to the file's size."""
    layers = model.layers
    if model.is_compact:
        tables = sum(length_tables.packed_bytes(l.weight_code_lengths, trim=False)
                     + length_tables.packed_bytes(l.index_code_lengths, trim=True) for l in layers)
    else:
        tables = sum(l.weight_code_lengths.size + l.index_code_lengths.size for l in layers)
    parts = {
        "weights and positions": sum(len(l.weight_stream) + len(l.index_stream) for l in layers),
        "codebooks": sum(l.float_bits // 8 * l.codebook.size for l in layers),
        "code-length tables": tables,
        "biases": sum(l.bias_bits // 8 * l.bias.size for l in layers if l.bias is not None),
    }
    if model.is_compact:
        parts["kept-unit bitmaps"] = sum(0 if k.all_kept else -(-k.shape[0] // 8) for k in model.kept.values())
    parts["other parameters"] = sum(4 * a.size for a in model.dense.values())
    parts["header and framing"] = file_bytes - sum(parts.values())
    return parts
