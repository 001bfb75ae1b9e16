"""Issue 21's table: a user's model from `prunelab run --model` to its file and its C engine.

    PYTHONPATH=experiments/user-models python experiments/user-models/measure.py RUN_DIR [RUN_DIR ...] \
        --output results/user-models/measurements.json

For each finished run, on all of the dataset's test images: accuracy dense / pruned / from the file
(the run's summary), the compressed file's bytes and compact architecture, and the C engine of the
file (float C with codebook weights, the export's default, built with the system compiler): its
accuracy and how many images it classes as PyTorch does on the model decoded from the file; and
the integer engine's accuracy (int8, the host build of its C, with the file's calibration; one weight
scale a layer, and one an output channel: `--weight-scales channel`); and the
file's compact graph exported to ONNX and run by onnxruntime: how many images it classes as PyTorch
does. A model with residual adds gets no int8 figure (the integer engine runs chains of layers so far).
"""

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch


def measure(run: Path) -> dict:
    from prunelab import data, models
    from prunelab.deploy import graph as g
    from prunelab.compress import compact_graph, unpack_model
    from prunelab.compression import CompressedModel
    from prunelab.deploy.calibrate import stored_ranges
    from prunelab.deploy.engine import Engine, IntEngine
    from prunelab.deploy.intplan import int_plan
    from prunelab.runs.config import load_toml
    from prunelab.runs.record import verified_file

    config = load_toml(run / "config.toml")
    summary = json.loads((run / "summary.json").read_text())
    path = verified_file(run / "quantized", "model.plc")
    compressed = CompressedModel.read(path)
    splits = data.load(config.data.dataset)
    images = splits.test_images.astype(np.float32)[:, None] / 255 if splits.test_images.ndim == 3 else \
        splits.test_images.astype(np.float32) / 255
    labels = splits.test_labels
    model = unpack_model(compressed, config.model)
    with torch.no_grad():
        torch_classes = np.concatenate([model(torch.from_numpy(images[i:i + 500])).argmax(1).numpy()
                                        for i in range(0, len(images), 500)])
    graph = compact_graph(compressed, config.model)
    onnx_classes = onnx_scores(graph, images).argmax(1)
    c_classes = Engine(graph, weights="codebook", batch=64).scores(images).argmax(1)
    ranges = stored_ranges(compressed)  # the integer engine, where the file carries its calibration
    int8 = int8_channel = None
    if ranges is not None:
        pixels = splits.test_images.reshape(len(labels), *graph.input_shape)
        int8, int8_channel = (float((IntEngine(int_plan(graph, ranges, scales)).scores(pixels).argmax(1) == labels)
                                    .mean()) for scales in ("layer", "channel"))
    split = summary.get("evaluated_on", "test")
    return {
        "run": run.name, "model": config.model, "dataset": config.data.dataset,
        "dense_accuracy": summary["dense"][f"{split}_accuracy"],
        "pruned_accuracy": summary["pruned"][f"{split}_accuracy"],
        "file_accuracy": summary["compressed"][f"{split}_accuracy"],
        "sparsity": summary["pruned"]["sparsity"],
        "file_bytes": path.stat().st_size, "dense_bytes": summary["compressed"]["dense_bytes"],
        "architecture": g.trace(models.build(config.model), tuple(graph.input_shape)).architecture(),
        "compact_architecture": graph.architecture(),
        "torch_accuracy_from_file": float((torch_classes == labels).mean()),
        "onnx_accuracy": float((onnx_classes == labels).mean()),
        "onnx_equals_torch": int((onnx_classes == torch_classes).sum()),
        "c_accuracy": float((c_classes == labels).mean()),
        "c_equals_torch": int((c_classes == torch_classes).sum()),
        "images": int(len(labels)),
        "int8_c_accuracy": int8, "int8_channel_c_accuracy": int8_channel,
    }


def onnx_scores(graph, images: np.ndarray) -> np.ndarray:
    """The compact graph exported to ONNX (as `prunelab export --format onnx` writes it), run by onnxruntime."""
    import onnxruntime

    from prunelab.deploy.module import to_module
    from prunelab.export import onnx_bytes

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(onnx_bytes(to_module(graph), tuple(graph.input_shape)), options)
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: images[i:i + 500]})[0] for i in range(0, len(images), 500)])


def percent(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--output", type=Path, default=Path("results/user-models/measurements.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [measure(run) for run in args.runs]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    result = {"command": "python " + " ".join(sys.argv), "host": platform.processor() or platform.machine(),
              "torch": torch.__version__, "runs": rows}
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    lines = ["| model | dense | pruned | file | ONNX = PyTorch | C engine | C = PyTorch | int8 C | int8 C, channel "
             "scales | file bytes | compact architecture |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        c_agree = f"{r['c_equals_torch']:,}/{r['images']:,}"
        lines.append(f"| {r['model']} | {percent(r['dense_accuracy'])} | {percent(r['pruned_accuracy'])} | "
                     f"{percent(r['file_accuracy'])} | {r['onnx_equals_torch']:,}/{r['images']:,} | "
                     f"{percent(r['c_accuracy'])} | {c_agree} | {percent(r['int8_c_accuracy'])} | "
                     f"{percent(r['int8_channel_c_accuracy'])} | "
                     f"{r['file_bytes']:,} | {r['architecture']} -> {r['compact_architecture']} |")
    table = "\n".join(lines) + "\n"
    args.output.with_suffix(".md").write_text(f"`{result['command']}`\n\n{table}")
    print(table)


if __name__ == "__main__":
    main()
