"""The ways to run a model that `prunelab bench` times beside dense PyTorch and torch CSR.

Each entry maps a name to ``prepare(images) -> call``, where ``images`` is the (N, C, H, W) float
batch to be timed and ``call()`` runs it once and returns (N, classes) scores as numpy:

- ``onnxruntime``: the dense ONNX export under onnxruntime (its CPU provider);
- ``onnxruntime-compact``: the compact model's ONNX export (``export --compact``);
- ``c-float`` and ``c-codebook``: the C export of the compact model, built for this host with -O3
  -march=native and called through ctypes; one thread, NB = min(batch, 16) images a pass (8 to 16
  measured best on LeNet-5-Caffe and LeNet-300-100 at batch 1000 on the 2-core VM).

Engines whose requirements are missing (onnxruntime, a C compiler) are left out, with the reason.
"""

from __future__ import annotations

import numpy as np

from prunelab.deploy.compact import compact_model

C_LANES = 16


def available(model, threads: int | None, input_shape=(1, 28, 28)) -> tuple[dict, dict]:
    """(name -> prepare, name -> why it is missing) for a model taking ``input_shape`` (C, H, W) or
    (F,). The compact model and the C engine need a model of supported operations (deploy/trace.py);
    one that is not still gets the dense ONNX engine."""
    from prunelab.errors import PrunelabError

    engines, missing = {}, {}
    try:
        small = compact_model(model, input_shape).graph
    except PrunelabError as exc:
        small = None
        missing["onnxruntime-compact"] = missing["c"] = f"no compact model: {exc}"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        missing["onnxruntime"] = "onnxruntime is not installed (pip install 'prunelab[export]')"
    else:
        from prunelab.deploy.module import to_module

        engines["onnxruntime"] = _onnx(model, input_shape, threads)
        if small is not None:
            engines["onnxruntime-compact"] = _onnx(to_module(small), input_shape, threads)
    from prunelab.deploy.engine import compiler

    if small is None:
        pass
    elif compiler() is None:
        missing["c"] = "no C compiler found (set CC, or install gcc or clang)"
    else:
        for weights in ("float", "codebook"):
            engines[f"c-{weights}"] = _c(small, weights)
    return engines, missing


def _onnx(module, input_shape, threads):
    import onnxruntime

    from prunelab.export import onnx_bytes

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(onnx_bytes(module.cpu().eval(), tuple(input_shape)), options,
                                           providers=["CPUExecutionProvider"])

    def prepare(images):
        feed = {"pixels": np.ascontiguousarray(images.cpu().numpy(), dtype=np.float32)}
        return lambda: session.run(["scores"], feed)[0]

    return prepare


def _c(graph, weights):
    from prunelab.deploy.engine import NATIVE, Engine

    built = {}

    def prepare(images):
        lanes = min(len(images), C_LANES)
        if lanes not in built:
            built[lanes] = Engine(graph, weights=weights, batch=lanes, flags=NATIVE)
        return built[lanes].bind(images.cpu().numpy())

    return prepare
