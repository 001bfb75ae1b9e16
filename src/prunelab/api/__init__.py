"""The Python API: prune, quantize, save, load and export a user's own model (docs/api.md)."""
