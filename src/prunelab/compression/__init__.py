"""Deep Compression's storage stages (Han, Mao & Dally 2016): weight sharing by k-means, relative
sparse indexing, canonical Huffman coding, and a checked binary container for the result."""

from prunelab.compression.container import CompressedModel
from prunelab.compression.huffman import canonical_codes, code_lengths, decode, encode
from prunelab.compression.kmeans import Codebook, centroid_gradients, cluster, dequantize, used_centroids
from prunelab.compression.layer import CompressedLayer, pack_layer
from prunelab.compression.sparse_index import decode_relative_indices, encode_relative_indices
from prunelab.compression.storage import file_parts, storage_table
from prunelab.compression.units import KeptUnits

__all__ = [
    "Codebook", "CompressedLayer", "CompressedModel", "KeptUnits", "canonical_codes", "centroid_gradients", "cluster",
    "code_lengths", "decode", "decode_relative_indices", "dequantize", "encode", "encode_relative_indices",
    "file_parts", "pack_layer", "storage_table", "used_centroids",
]
