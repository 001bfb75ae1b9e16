"""Does sparsity change training or test time? Masked training and evaluation at several sparsities.

    python benchmarks/time_per_sparsity.py [--model lenet5] [--sparsities 0 0.5 0.9 0.99]
                                           [--repeats 7] [--batches 60] [--json OUT]

For each sparsity and each backend (our masks, torch.nn.utils.prune) the same model trains on the
same random batches (SGD, momentum 0.9) and then classifies 10,000 random images. Every repeat
runs all the cases in turn, so machine noise hits them alike; medians over repeats, as ratios to
the unpruned model trained by a plain loop in the same repeat.
"""

import copy
import json
import platform
import statistics
import time

import torch

from masked_loop import loop_arguments, random_batches, time_loop
from prunelab import models
from prunelab.pruning import criteria, torch_backend
from prunelab.pruning.mask import Mask
from prunelab.training.loop import evaluate
from prunelab.training.masking import MaskEnforcer


def prepared(base, backend: str, sparsity: float):
    """(model, after_step) for one case; sparsity 0 with backend 'plain' is the baseline."""
    model = copy.deepcopy(base)
    if backend == "prunelab":
        mask = criteria.magnitude_per_layer(dict(model.named_parameters()), Mask.ones_like(model), sparsity)
        return model, MaskEnforcer(model, mask)
    if backend == "torch":
        torch_backend.prune_per_layer(model, sparsity)
    return model, None


def test_seconds(model, images, labels) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        evaluate(model, images, labels)
    return time.perf_counter() - start


def main():
    parser = loop_arguments(__doc__.splitlines()[0], batches=60)
    parser.add_argument("--sparsities", type=float, nargs="+", default=[0.0, 0.5, 0.9, 0.99])
    args = parser.parse_args()
    batches = random_batches(args.batches, args.batch_size)
    images, labels = (torch.randint(0, 256, (10_000, 28, 28), dtype=torch.uint8), torch.randint(0, 10, (10_000,)))
    base = models.build(args.model)
    cases = [("plain", 0.0)] + [(b, s) for b in ("prunelab", "torch") for s in args.sparsities]
    time_loop(copy.deepcopy(base), batches[:10])  # warm-up
    train = {case: [] for case in cases}
    test = {case: [] for case in cases}
    for _ in range(args.repeats):
        for case in cases:
            model, after_step = prepared(base, *case)
            train[case].append(time_loop(model, batches, after_step))
            test[case].append(test_seconds(model, images, labels))
    plain_train, plain_test = statistics.median(train[cases[0]]), statistics.median(test[cases[0]])
    rows = [{"backend": b, "sparsity": s,
             "train_seconds_median": statistics.median(train[(b, s)]),
             "test_seconds_median": statistics.median(test[(b, s)]),
             "train_ratio_to_plain": statistics.median(train[(b, s)]) / plain_train,
             "test_ratio_to_plain": statistics.median(test[(b, s)]) / plain_test} for b, s in cases]
    print(f"{'backend':<9} {'sparsity':>8} {'train s':>8} {'x plain':>8} {'test s':>8} {'x plain':>8}")
    for r in rows:
        print(f"{r['backend']:<9} {r['sparsity']:>8g} {r['train_seconds_median']:>8.3f} {r['train_ratio_to_plain']:>8.3f} "
              f"{r['test_seconds_median']:>8.3f} {r['test_ratio_to_plain']:>8.3f}")
    if args.json:
        result = {"model": args.model, "batch_size": args.batch_size, "batches": args.batches, "repeats": args.repeats,
                  "test_images": len(images), "rows": rows,
                  "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
                             f"torch {torch.__version__}"}
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
