"""What the integer engine costs in accuracy, and that its C equals its Python reference bit for bit.

    python experiments/mcu/int8_accuracy.py FILE.plc [FILE.plc ...] [--output results/mcu/int8-accuracy.json]

For each calibrated file, on all 10,000 MNIST test images: the float C engine's accuracy (the
default export, codebook weights), the integer engine's (int8 weights and activations, int32 sums)
as host C and as the Python reference (intref), whether every int32 score of the two is equal, and
how many images the float and integer engines class differently.
"""

import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path

import numpy as np


def measure(path: Path, splits) -> dict:
    from prunelab.cli.integer import int_plan_of
    from prunelab.compress import compact_graph
    from prunelab.compression import CompressedModel
    from prunelab.deploy import intref
    from prunelab.deploy.engine import Engine, IntEngine

    images, labels = splits.test_images, splits.test_labels
    graph = compact_graph(CompressedModel.read(path))
    floating = Engine(graph, weights="codebook").scores(images[:, None].astype(np.float32) / 255).argmax(1)
    plan = int_plan_of(str(path))[0]
    c_scores, reference = IntEngine(plan).scores(images), intref.scores(plan, images)
    integer = c_scores.argmax(1)
    return {"file": str(path), "images": int(len(labels)),
            "float_c_correct": int((floating == labels).sum()), "int8_c_correct": int((integer == labels).sum()),
            "int8_reference_correct": int((reference.argmax(1) == labels).sum()),
            "int8_scores_equal_reference": int((c_scores == reference).all(1).sum()),
            "int8_scores_sha256": hashlib.sha256(c_scores.astype("<i4").tobytes()).hexdigest(),
            "classes_differ_float_int8": int((floating != integer).sum()),
            "calibration": CompressedModel.read(path).metadata["calibration"]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    from prunelab import data

    splits = data.load("mnist")
    rows = [measure(path, splits) for path in args.files]
    for r in rows:
        print(f"{r['file']}: float C {r['float_c_correct'] / r['images']:.2%}, int8 C {r['int8_c_correct'] / r['images']:.2%} "
              f"(reference {r['int8_reference_correct'] / r['images']:.2%}, scores equal on "
              f"{r['int8_scores_equal_reference']:,}/{r['images']:,}), classes differ on {r['classes_differ_float_int8']}")
    if args.output:
        result = {"command": "python experiments/mcu/int8_accuracy.py " + " ".join(argv or sys.argv[1:]),
                  "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "models": rows}
        args.output.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
