"""prunelab: prune, quantize and encode small networks, and measure what it costs and buys.

From Python (docs/api.md)::

    prunelab.train(model, (x, y), epochs=2)                  # dense training first
    mask = prunelab.prune(model, (x, y), sparsity=0.9)       # or Pruner(...).step(optimizer) in your loop
    codebooks = prunelab.quantize(model, mask, (x, y))
    prunelab.save(model, "model.plc", codebooks, input_shape=x.shape[1:])
    prunelab.load("model.plc", model)
    prunelab.export_onnx(model, "model.onnx", input_shape=(3, 32, 32))
    prunelab.export_c(model, "c/", input_shape=(3, 32, 32))
"""

import importlib

from prunelab.foundations import wait_policy

# How torch's OpenMP threads wait (spinning or asleep) is read once, when torch loads, so it is
# decided here, before anything imports torch: passive only where threads would outnumber the cores
# left to them (one thread: nothing to decide), the runtime's spinning default otherwise, and a
# user's own OMP_WAIT_POLICY kept. The rule and its measurements: foundations/wait_policy.py. The
# API below is therefore imported on first use, so that the command line can decide again once it
# knows --threads and --jobs.
wait_policy.decide_at_import()

__version__ = "0.1.0"

# name -> module of the Python API (docs/api.md), imported when first used
_API = {"accuracy": "prunelab.api.data", "export_c": "prunelab.api.files", "export_onnx": "prunelab.api.files",
        "file_input_shape": "prunelab.api.files", "load": "prunelab.api.files", "quantize": "prunelab.api.files",
        "save": "prunelab.api.files", "Pruner": "prunelab.api.pruning", "prune": "prunelab.api.pruning",
        "Mask": "prunelab.pruning.mask", "SharedWeights": "prunelab.training.weight_sharing",
        "train": "prunelab.api.training"}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'prunelab' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
