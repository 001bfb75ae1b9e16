"""Compaction and the C engine are lossless on every compressed file in results/.

    python experiments/compaction/check.py [FILE ...] > results/compaction.json

For each file: the architecture before and after, the MACs, and on all 10,000 test images how
many predictions differ from the decoded model (PyTorch) for the compact model (PyTorch) and for
the C engine with each weight storage (portable -O2 build), each with the largest score difference.
All counts must be 0.
"""

import json
import sys
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


def check(path: Path, images: torch.Tensor, labels: np.ndarray) -> dict:
    model = unpack_model(CompressedModel.read(path))
    graph = trace(model)
    result = compact(graph)
    with torch.no_grad():
        original = model(images).numpy()
        paths = {"compact_torch": to_module(result.graph)(images).numpy()}
    for weights in ("float", "codebook"):
        paths[f"c_{weights}"] = Engine(result.graph, weights=weights, batch=64).scores(images.numpy())
    row = result.summary(graph) | {"file": str(path), "max_abs_score": float(np.abs(original).max()),
                                   "test_errors": int((original.argmax(1) != labels).sum())}
    for name, scores in paths.items():
        row[name] = {"predictions_differing": int((original.argmax(1) != scores.argmax(1)).sum()),
                     "max_score_difference": float(np.abs(original - scores).max())}
    return row


def main(argv) -> None:
    torch.set_num_threads(1)
    files = [Path(a) for a in argv] or sorted(Path("results").rglob("*.plc"))
    splits = data.load("mnist")
    images = torch.from_numpy(splits.test_images[:, None].astype(np.float32) / np.float32(255))
    rows = [check(path, images, splits.test_labels) for path in files]
    print(json.dumps({"machine": describe_machine(), "test_images": len(images), "files": rows}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
