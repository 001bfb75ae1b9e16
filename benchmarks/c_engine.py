"""The compact model's C engine against dense PyTorch, torch CSR and onnxruntime, on the record files.

    python benchmarks/c_engine.py [--threads 1 2] [--repeats 15] [FILE ...] > results/c-engine-bench.json
    python benchmarks/c_engine.py --table results/c-engine-bench.json     # the README's table

One `prunelab bench` measurement (inference.benchmark with deploy.engines) per file and thread
count: batch 1, 64 and 1000, interleaved rounds, medians, speed-ups as ratios within one run.
The C engine always runs on one thread; "threads" sets torch's and onnxruntime's.
"""

import argparse
import json
import sys

import torch

from prunelab.cli.sources import load_source
from prunelab.deploy.engines import available
from prunelab.inference import benchmark

FILES = ["results/records-lenet5-caffe/model.plc", "results/records-lenet-300-100/model.plc",
         "results/main-job/model.plc"]
COLUMNS = ["onnxruntime", "onnxruntime-compact", "c-float", "c-codebook"]


def measure(path: str, threads: int, repeats: int) -> dict:
    model, name, _ = load_source(path)
    extra, missing = available(model, threads)
    result = benchmark(model, (1, 64, 1000), repeats=repeats, threads=threads, extra=extra)
    return result | {"file": path, "model": name, "threads": threads, "engines_missing": missing}


def table(runs: list[dict]) -> str:
    """Markdown: speed-up over dense PyTorch of every engine, per file, threads and batch size."""
    lines = ["| model | threads | batch | dense PyTorch ms | MAC ceiling | torch CSR | " + " | ".join(COLUMNS)
             + " | c-float vs onnxruntime |", "|---|---|---|---|---|---|" + "---|" * (len(COLUMNS) + 1)]
    for run in runs:
        for row in run["batches"]:
            cells = [f"{row['engines'][c]['speedup']:.1f}x" if c in row["engines"] else "-" for c in COLUMNS]
            engines = row["engines"]
            versus = (f"{engines['onnxruntime']['ms'] / engines['c-float']['ms']:.1f}x"
                      if {"onnxruntime", "c-float"} <= set(engines) else "-")
            lines.append(f"| {run['model']} | {run['threads']} | {row['batch_size']} | {row['dense_ms']:.3f} | "
                         f"{run['flop_ceiling']:.1f}x | {row['speedup']:.1f}x | " + " | ".join(cells) + f" | {versus} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", default=FILES)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, torch.get_num_threads()])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--table", help="print the markdown table of a saved result instead")
    args = parser.parse_args()
    if args.table:
        print(table(json.load(open(args.table))["runs"]))
        return
    runs = [measure(path, threads, args.repeats) for path in args.files for threads in args.threads]
    json.dump({"command": "python benchmarks/c_engine.py " + " ".join(sys.argv[1:]), "runs": runs}, sys.stdout,
              indent=1)


if __name__ == "__main__":
    main()
