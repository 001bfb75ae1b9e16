"""Dense PyTorch against the sparse path (to_sparse) on the same model, batch by batch, and beside
them any further engines given (``extra``: name -> prepare(images) -> call; see deploy/engines.py).

Pruning 90% of the weights removes 90% of the MACs, yet rarely 90% of the time: sparse kernels
read indices, gather scattered inputs and skip the vectorised dense code. This measures what is
actually gained, next to the MAC ratio as the ceiling, so neither is mistaken for the other.
"""

import statistics

import torch
from torch import nn

from prunelab.errors import PrunelabError
from prunelab.inference.machine import describe_machine
from prunelab.inference.macs import flop_ceiling, mac_counts
from prunelab.inference.sparse import conv_kernels, to_sparse
from prunelab.inference.timing import time_interleaved


def benchmark(model: nn.Module, batch_sizes=(1, 64, 1000), repeats: int = 10, min_seconds: float = 1.0,
              max_seconds: float | None = 5.0, conv: str = "auto", threads: int | None = None,
              input_shape=(1, 28, 28), seed: int = 0, extra: dict | None = None) -> dict:
    """Median ms per batch and images/s, dense vs sparse, at each batch size; plus MACs and the machine.

    Per batch size: build the sparse model ("auto" times each conv on that batch), then time both
    on the same random pixels in interleaved rounds: `repeats` of them, more while under
    `min_seconds`, fewer (but 3) once past `max_seconds` (see timing.time_interleaved). `threads`
    sets torch's thread count for the run and is restored after. The model is left as it was.
    """
    check_settings(batch_sizes, repeats, threads)
    previous_threads, was_training = torch.get_num_threads(), model.training
    if threads:
        torch.set_num_threads(threads)
    try:
        model.eval()
        layers = mac_counts(model, input_shape)
        generator = torch.Generator().manual_seed(seed)
        budget = (repeats, min_seconds, max_seconds)
        batches = [time_batch(model, n, budget, conv, input_shape, generator, extra or {}) for n in batch_sizes]
        machine = describe_machine()
    finally:
        torch.set_num_threads(previous_threads)
        model.train(was_training)
    return {
        "machine": machine,
        "macs_dense": sum(r["macs_dense"] for r in layers),
        "macs_nonzero": sum(r["macs_nonzero"] for r in layers),
        "flop_ceiling": flop_ceiling(layers),
        "layers": layers,
        "batches": batches,
        "settings": {"repeats": repeats, "min_seconds": min_seconds, "max_seconds": max_seconds,
                     "conv": conv, "input_shape": list(input_shape)},
    }


def time_batch(model, batch_size, budget, conv, input_shape, generator, extra) -> dict:
    device = next(model.parameters(), torch.empty(0)).device
    images = torch.rand((batch_size, *input_shape), generator=generator).to(device)
    sparse = to_sparse(model, conv, example=images)
    with torch.no_grad():
        dense_out, sparse_out = model(images), sparse(images)
    error = float((dense_out - sparse_out).abs().max() / dense_out.abs().max().clamp_min(1e-30))
    calls = {"dense": lambda: model(images), "sparse": lambda: sparse(images)}
    calls |= {name: prepare(images) for name, prepare in extra.items()}
    if device.type == "cuda":  # kernels are asynchronous: wait for them inside the timed call
        calls = {k: (lambda f=f: (f(), torch.cuda.synchronize())) for k, f in calls.items()}
    samples = time_interleaved(calls, *budget)
    dense_s, sparse_s = statistics.median(samples["dense"]), statistics.median(samples["sparse"])
    return {
        "batch_size": batch_size,
        "dense_ms": 1e3 * dense_s,
        "sparse_ms": 1e3 * sparse_s,
        "dense_images_per_s": batch_size / dense_s,
        "sparse_images_per_s": batch_size / sparse_s,
        "speedup": dense_s / sparse_s,
        "rounds": len(samples["dense"]),
        "conv_kernels": conv_kernels(sparse),
        "max_relative_difference": error,
        "engines": {name: engine_row(samples[name], dense_s, batch_size, calls[name](), dense_out)
                    for name in extra},
    }


def engine_row(samples, dense_s, batch_size, scores, dense_out) -> dict:
    seconds = statistics.median(samples)
    reference = dense_out.cpu().numpy()
    return {"ms": 1e3 * seconds, "images_per_s": batch_size / seconds, "speedup": dense_s / seconds,
            "same_predictions": bool((scores.argmax(1) == reference.argmax(1)).all()),
            "max_relative_difference": float(abs(scores - reference).max() / max(abs(reference).max(), 1e-30))}


def check_settings(batch_sizes, repeats, threads) -> None:
    if not batch_sizes or any(not isinstance(n, int) or n < 1 for n in batch_sizes):
        raise PrunelabError(f"batch sizes must be positive integers, not {list(batch_sizes)}")
    if repeats < 1:
        raise PrunelabError(f"repeats must be at least 1, not {repeats}")
    if threads is not None and threads < 1:
        raise PrunelabError(f"threads must be at least 1, not {threads}")
