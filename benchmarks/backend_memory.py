"""Memory of our masks against torch.nn.utils.prune while training a pruned model.

    python benchmarks/backend_memory.py [--models lenet5 lenet5-caffe lenet-300-100] [--json OUT]

What is counted and how: src/prunelab/pruning/footprint.py. Every loop but the plain, unpruned
baseline prunes to 90% per layer first.
"""

import argparse
import json
import platform

import torch

from prunelab.pruning.footprint import BACKENDS, training_footprint

SPARSITY = 0.9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lenet5", "lenet5-caffe", "lenet-300-100"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    rows = [training_footprint(m, b, SPARSITY, args.batch_size) for m in args.models for b in BACKENDS]
    print(f"{'model':<14} {'backend':<9} {'state':>10} {'saved fwd':>10} {'checkpoint':>11}   (bytes; batch {args.batch_size})")
    for r in rows:
        print(f"{r['model']:<14} {r['backend']:<9} {r['state_bytes']:>10,} {r['saved_for_backward_bytes']:>10,} "
              f"{r['checkpoint_bytes']:>11,}")
    if args.json:
        result = {"sparsity": SPARSITY, "batch_size": args.batch_size, "rows": rows,
                  "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}"}
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
