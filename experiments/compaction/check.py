"""Compaction and the C engine are lossless on every compressed file in results/.

    python experiments/compaction/check.py [--before REV] [FILE ...] > results/compaction.json

For each file: the architecture before and after, the MACs, and on all 10,000 test images how
many predictions differ from the original model (PyTorch) for the compact model (PyTorch) and for
the C engine with each weight storage (portable -O2 build), each with the largest score difference.
All counts must be 0. The original is the file decoded, or with ``--before REV`` the same path as
it was at git revision REV: results/compaction.json uses the last revision before the compact
file format (899f977^), so the compact files are checked against the uncompacted ones.
"""

import argparse
import json
import subprocess
from pathlib import Path

import numpy as np
import torch

from prunelab import data
from prunelab.compress import unpack_model
from prunelab.compression import CompressedModel
from prunelab.deploy.compact import compact
from prunelab.deploy.engine import Engine
from prunelab.deploy.graph import trace
from prunelab.deploy.module import to_module
from prunelab.inference.machine import describe_machine


def check(path: Path, images: torch.Tensor, labels: np.ndarray, before: str | None) -> dict:
    model = unpack_model(CompressedModel.read(path))
    reference = model if before is None else unpack_model(CompressedModel.from_bytes(
        subprocess.run(["git", "show", f"{before}:{path}"], capture_output=True, check=True).stdout))
    graph = trace(reference)
    result = compact(trace(model))
    with torch.no_grad():
        original = reference(images).numpy()
        paths = {"compact_torch": to_module(result.graph)(images).numpy()}
    for weights in ("float", "codebook"):
        paths[f"c_{weights}"] = Engine(result.graph, weights=weights, batch=64).scores(images.numpy())
    row = result.summary(graph) | {"file": str(path), "original": f"{before}:{path}" if before else str(path),
                                   "max_abs_score": float(np.abs(original).max()),
                                   "test_errors": int((original.argmax(1) != labels).sum())}
    for name, scores in paths.items():
        row[name] = {"predictions_differing": int((original.argmax(1) != scores.argmax(1)).sum()),
                     "max_score_difference": float(np.abs(original - scores).max())}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--before", help="compare with each file as it was at this git revision")
    args = parser.parse_args()
    torch.set_num_threads(1)
    files = args.files or sorted(Path("results").rglob("*.plc"))
    splits = data.load("mnist")
    images = torch.from_numpy(splits.test_images[:, None].astype(np.float32) / np.float32(255))
    rows = [check(path, images, splits.test_labels, args.before) for path in files]
    print(json.dumps({"machine": describe_machine(), "test_images": len(images), "before": args.before,
                      "files": rows}, indent=1))


if __name__ == "__main__":
    main()
