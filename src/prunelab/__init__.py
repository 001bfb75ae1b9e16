"""prunelab: prune, quantize and encode small networks, and measure what it costs and buys.

From Python (docs/api.md)::

    mask = prunelab.prune(model, (x, y), sparsity=0.9)       # or Pruner(...).step(optimizer) in your loop
    codebooks = prunelab.quantize(model, mask, (x, y))
    prunelab.save(model, "model.plc", codebooks, input_shape=x.shape[1:])
    prunelab.load("model.plc", model)
    prunelab.export_onnx(model, "model.onnx", input_shape=(3, 32, 32))
    prunelab.export_c(model, "c/", input_shape=(3, 32, 32))
"""

import os

# Torch's OpenMP threads spin while they wait for work. On cores shared with other processes the
# spinning takes the time the working threads need: with two other processes on two cores an epoch
# went from 2.7 s to about 110 s, and 40 training steps took 25 s spinning against 0.9 s waiting
# passively (benchmarks/oversubscription.py, results/oversubscription.json). Passive waiting costs
# little on free cores. It must be set before torch is first imported; a user's own value is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

from prunelab.api.data import accuracy
from prunelab.api.files import export_c, export_onnx, file_input_shape, load, quantize, save
from prunelab.api.pruning import Pruner, prune
from prunelab.pruning.mask import Mask
from prunelab.training.weight_sharing import SharedWeights

__all__ = ["Mask", "accuracy", "Pruner", "SharedWeights", "export_c", "export_onnx", "file_input_shape", "load", "prune",
           "quantize", "save"]
