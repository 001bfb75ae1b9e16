"""Throughput of the masked training loop against a plain loop and torch.nn.utils.prune.

    python benchmarks/masked_loop.py [--model lenet5] [--repeats 7] [--batches 100] [--json OUT]

The three loops train the same model (90% sparse for the masked two) on the same random
batches; each repeat runs all three in turn (interleaved, so machine noise hits them alike).
Prints images/second, medians over repeats, and the ratios to the plain loop.
"""

import argparse
import copy
import json
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from prunelab import models
from prunelab.pruning import criteria, torch_backend
from prunelab.pruning.mask import Mask
from prunelab.training.masking import MaskEnforcer


def time_loop(model, batches, after_step=None) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    start = time.perf_counter()
    for x, y in batches:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        if after_step is not None:
            after_step(model, optimizer)
    return time.perf_counter() - start


def loop_arguments(description: str, batches: int) -> argparse.ArgumentParser:
    """The options every training-loop benchmark here takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batches", type=int, default=batches)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--json", help="also write the results here")
    return parser


def random_batches(count: int, batch_size: int) -> list:
    """`count` batches of random images and labels, the same for every loop (seed 0)."""
    torch.manual_seed(0)
    return [(torch.rand(batch_size, 1, 28, 28), torch.randint(0, 10, (batch_size,))) for _ in range(count)]


def main():
    args = loop_arguments(__doc__.splitlines()[0], batches=100).parse_args()
    batches = random_batches(args.batches, args.batch_size)
    base = models.build(args.model)
    mask = criteria.magnitude_per_layer(dict(base.named_parameters()), Mask.ones_like(base), 0.9)
    loops = {
        "plain": lambda: time_loop(copy.deepcopy(base), batches),
        "prunelab_masked": lambda: masked(base, mask, batches),
        "torch_prune": lambda: torch_pruned(base, batches),
    }
    time_loop(copy.deepcopy(base), batches[:10])  # warm-up
    seconds = {name: [] for name in loops}
    for _ in range(args.repeats):
        for name, loop in loops.items():
            seconds[name].append(loop())
    images = args.batches * args.batch_size
    result = {
        "model": args.model, "batch_size": args.batch_size, "batches": args.batches, "repeats": args.repeats,
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "images_per_second": {n: images / statistics.median(s) for n, s in seconds.items()},
        "ratio_to_plain": {n: statistics.median(seconds["plain"]) / statistics.median(s) for n, s in seconds.items()},
    }
    for name in loops:
        print(f"{name:<16} {result['images_per_second'][name]:>9.0f} images/s   "
              f"{result['ratio_to_plain'][name]:.3f}x of plain")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


def masked(base, mask, batches) -> float:
    model = copy.deepcopy(base)
    return time_loop(model, batches, MaskEnforcer(model, mask))


def torch_pruned(base, batches) -> float:
    model = copy.deepcopy(base)
    torch_backend.prune_per_layer(model, 0.9)
    return time_loop(model, batches)


if __name__ == "__main__":
    main()
