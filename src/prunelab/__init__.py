"""prunelab: prune, quantize and encode small networks, and measure what it costs and buys."""

__version__ = "0.1.0"
