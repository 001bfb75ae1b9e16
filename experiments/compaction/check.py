"""Compaction is lossless on every compressed file in results/: same class on all 10,000 test images.

    python experiments/compaction/check.py [FILE ...] > results/compaction.json

For each file: the architecture before and after, the MACs, how many test predictions differ
between the decoded model and its compact form (must be 0), and the largest score difference.
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
from prunelab.deploy.graph import trace
from prunelab.deploy.module import to_module
from prunelab.inference.machine import describe_machine


def check(path: Path, images: torch.Tensor) -> dict:
    model = unpack_model(CompressedModel.read(path))
    graph = trace(model)
    result = compact(graph)
    with torch.no_grad():
        original, small = model(images), to_module(result.graph)(images)
    return result.summary(graph) | {
        "file": str(path),
        "predictions_differing": int((original.argmax(1) != small.argmax(1)).sum()),
        "max_score_difference": float((original - small).abs().max()),
        "max_abs_score": float(original.abs().max()),
    }


def main(argv) -> None:
    torch.set_num_threads(1)
    files = [Path(a) for a in argv] or sorted(Path("results").rglob("*.plc"))
    splits = data.load("mnist")
    images = torch.from_numpy(splits.test_images[:, None].astype(np.float32) / np.float32(255))
    rows = [check(path, images) for path in files]
    print(json.dumps({"machine": describe_machine(), "test_images": len(images), "files": rows}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
