"""The subcommands. Each `register_*` adds its flags and sets `handler`."""

import json
import os
import sys
from pathlib import Path

from prunelab import data
from prunelab.cli.bench import register_bench
from prunelab.cli.integer import ARITHMETICS, DEFAULT_ARITHMETIC, register_calibrate
from prunelab.cli.report import register_report
from prunelab.cli.sweep import register_sweep
from prunelab.cli.sensitivity import register_sensitivity
from prunelab.cli.settings import MODEL_HELP, STAGE_HELP, STAGES, add_arguments, build_config
from prunelab.errors import PrunelabError


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def register_data(parser):
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    fetch = sub.add_parser("fetch", help="make a dataset available in the local cache")
    fetch.add_argument("--dataset", default="mnist", help=f"one of {', '.join(data.DATASETS)}")
    fetch.add_argument("--data-dir", help="a folder holding the four official IDX files")
    fetch.set_defaults(handler=data_fetch)


def data_fetch(args):
    result = data.fetch(args.dataset, data_dir=args.data_dir)
    print(f"{result.dataset}: from {result.source}")
    for path in result.cache_files:
        print(f"  {path}")


# flags that set only later stages' settings: `train` (the dense stage) would silently ignore them
LATER_STAGE_FLAGS = ("sparsity", "method", "backend", "schedule", "rounds", "retrain_epochs")


def register_pipeline(parser, stop: str, preset: str | None):
    add_arguments(parser, default_preset=preset)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, all cores)")
    parser.set_defaults(handler=lambda args: pipeline(args, stop))


def pipeline(args, stop: str):
    from prunelab.pruning.report import format_table
    from prunelab.runs import pipeline as runs

    given = [f"--{f.replace('_', '-')}" for f in LATER_STAGE_FLAGS if getattr(args, f, None) is not None]
    if stop == "dense" and given:
        raise PrunelabError(f"train runs the dense stage only and would ignore {', '.join(given)}; use prune or run")
    if args.threads is not None:
        if args.threads < 1:
            raise PrunelabError(f"--threads must be at least 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    config = build_config(args)
    summary = runs.execute(config, runs_dir=args.runs_dir, log=log, stop=stop)
    print(f"run: {summary['run_dir']}")
    print_accuracy(summary)
    if "pruned" in summary:
        print(format_table(summary["pruned"]["layers"]))
    if "compressed" in summary:
        c, where = summary["compressed"], summary["evaluated_on"]
        print(format_storage(c["table"]))
        print("(kept: the weights the file stores: compaction drops the weights of units nothing reads, so it can "
              "be fewer than the pruned model's)")
        print(f"compressed file: {Path(summary['run_dir']) / c['file']}")
        print(f"compressed file {c['file_bytes']:,} bytes vs dense fp32 {c['dense_bytes']:,} bytes: "
              f"{c['ratio']:.1f}x smaller; accuracy from the decoded file {100 * c[f'{where}_accuracy']:.2f}% "
              f"({c[f'{where}_errors']} errors{'' if where == 'test' else ', on the validation split'})")
        if "compaction" in c:
            print(format_compaction(c["compaction"]))


def format_compaction(summary: dict) -> str:
    """One line: the architecture before and after compaction and the MACs per image."""
    return (f"compact architecture {summary['architecture']} -> {summary['compact_architecture']}: "
            f"MACs per image with every weight of the layers {summary['macs_dense']:,} -> "
            f"{summary['macs_compact_dense']:,} (dead units dropped; on nonzero weights only: "
            f"{summary['macs_nonzero']:,} -> {summary['macs_compact_nonzero']:,})")


def format_storage(rows) -> str:
    """Han et al.'s per-layer storage table (Deep Compression, Table 2 layout)."""
    width = max([6] + [len(r["layer"]) for r in rows])  # a user's layer names can be long
    lines = [f"{'layer':<{width}} {'kept':>7} {'kept %':>7} {'weight bits':>12} {'index bits':>11} "
             f"{'size %':>15} {'x':>11}",
             f"{'':<{width}} {'':>7} {'':>7} {'(->Huffman)':>12} {'(->Huffman)':>11} {'(->Huffman)':>15} {'(->Huffman)':>11}"]
    for r in rows:
        lines.append(f"{r['layer']:<{width}} {r['kept']:>7,} {r['density_pct']:>6.2f}% "
                     f"{r['weight_bits']:>4.1f}->{r['weight_bits_huffman']:<4.1f}   "
                     f"{r['index_bits']:>3.1f}->{r['index_bits_huffman']:<4.1f}  "
                     f"{r['size_pct']:>6.2f}->{r['size_pct_huffman']:<6.2f}  "
                     f"{r['compression']:>4.1f}->{r['compression_huffman']:<5.1f}")
    return "\n".join(lines)


def print_accuracy(summary):
    where = summary["evaluated_on"]
    for stage in ("dense", "pruned"):
        if stage in summary:
            s = summary[stage]
            print(f"{stage:<7} {where} accuracy {100 * s[f'{where}_accuracy']:.2f}% ({s[f'{where}_errors']} errors)  "
                  f"nonzero weights {s['weights_nonzero']:,}/{s['weights_total']:,}  "
                  f"MACs on nonzero weights {s['macs']:,}")


def register_evaluate(parser):
    parser.add_argument("source", help="a run directory, a compressed file, a .pt state_dict or an .onnx file")
    parser.add_argument("--stage", choices=STAGES, help=STAGE_HELP)
    parser.add_argument("--model", help=MODEL_HELP)
    parser.add_argument("--dataset", help="override the dataset: mnist, fashion-mnist or npz:FILE "
                                          "(default: the run's or the file's, else mnist)")
    parser.add_argument("--data-dir", help="a folder holding the four official IDX files")
    parser.add_argument("--engine", default="torch", choices=("torch", "c", "reference"),
                        help="torch: PyTorch on the decoded model; c: the compact model's C export, built "
                             "with the system C compiler; reference: the integer engine in Python (int8)")
    parser.add_argument("--arithmetic", choices=ARITHMETICS,
                        help="c: float (default) or int8, the integer engine of a calibrated file")
    parser.add_argument("--weight-scales", choices=("layer", "channel"),
                        help="int8: one weight scale a layer (default) or one an output channel of each hidden "
                             "layer (for layers whose channels differ in range, e.g. after BatchNorm folding)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=evaluate)


def evaluate(args):
    import torch

    from prunelab.cli.sources import load_source
    from prunelab.training.loop import evaluate as run_evaluation

    integer = args.arithmetic == "int8" or args.engine == "reference"
    if integer and args.engine == "torch" or args.arithmetic == "float" and args.engine != "c":
        raise PrunelabError("--arithmetic goes with --engine c (float or int8); --engine reference is int8")
    if args.weight_scales is not None and not integer:
        raise PrunelabError("--weight-scales applies to the integer engine (--arithmetic int8 or --engine reference)")
    if integer:
        from prunelab.cli.integer import evaluate_int

        result = evaluate_int(args)
        name, dataset, count = result.pop("model"), result.pop("dataset"), result["test_correct"] + result["test_errors"]
    elif args.source.endswith(".onnx"):  # an export, run under onnxruntime
        from pathlib import Path

        from prunelab.export import onnx_accuracy

        if not Path(args.source).exists() and not Path(args.source).is_symlink():
            raise PrunelabError(f"{args.source} does not exist")  # anything else: export.onnx_accuracy says what it is
        name, dataset = "onnx", args.dataset or "mnist"
        splits = data.load(dataset, data_dir=args.data_dir)
        result = onnx_accuracy(args.source, splits.test_images, splits.test_labels, dataset)
    elif args.engine == "c":
        from prunelab.cli.deploy import c_engine
        from prunelab.export import shaped_inputs

        # a .pt records no input shape: the data it is evaluated on gives it
        given = ",".join(map(str, data.input_shape(args.dataset or "mnist"))) if args.source.endswith(".pt") else None
        engine, name, dataset = c_engine(args.source, args.stage, args.model, given)
        dataset = args.dataset or dataset or "mnist"
        splits = data.load(dataset, data_dir=args.data_dir)
        scores = engine.scores(shaped_inputs(splits.test_images, engine.input_shape, f"the C engine of {args.source}", dataset))
        correct = int((scores.argmax(1) == splits.test_labels).sum())
        result = {"test_accuracy": correct / len(splits.test_labels), "test_correct": correct,
                  "test_errors": len(splits.test_labels) - correct, "engine": "c"}
    else:
        model, name, dataset = load_source(args.source, args.stage, args.model)
        dataset = args.dataset or dataset or "mnist"
        splits = data.load(dataset, data_dir=args.data_dir)
        result = run_evaluation(model, torch.from_numpy(splits.test_images), torch.from_numpy(splits.test_labels))
    if not integer:
        count = len(splits.test_images)
    result.update(model=name, dataset=dataset)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{name} on {dataset} test: accuracy {100 * result['test_accuracy']:.2f}% "
              f"({result['test_errors']} errors of {count})" + (f", {result['engine']} engine, scores SHA-256 "
                                                                  f"{result['scores_sha256'][:16]}" if integer else ""))


def register_export(parser):
    parser.add_argument("source", help="a run directory, a compressed file, or a .pt state_dict")
    parser.add_argument("--format", required=True, choices=("onnx", "state_dict", "c"))
    parser.add_argument("--output", required=True, help="file to write (for c: a folder for <name>.h and <name>.c)")
    parser.add_argument("--compact", action="store_true",
                        help="onnx: export the compact model (dead units dropped), a smaller dense graph")
    parser.add_argument("--arithmetic", choices=ARITHMETICS,
                        help=f"c: float (default: needs an FPU; PyTorch's classes on every file) or int8 (integer-only "
                             f"C for parts without an FPU; needs a calibrated file, see `prunelab calibrate`)")
    parser.add_argument("--weight-scales", choices=("layer", "channel"),
                        help="int8: one weight scale a layer (default) or one an output channel of each hidden "
                             "layer (for layers whose channels differ in range, e.g. after BatchNorm folding)")
    parser.add_argument("--weights", choices=("float", "codebook"),
                        help="c: weight storage, float (fastest) or codebook (smallest, the default)")
    parser.add_argument("--name", help="c: the C name prefix and file names (default: the model's name)")
    parser.add_argument("--batch", type=int, default=1,
                        help="c: images per pass (static buffers grow with it; 1 for a microcontroller)")
    parser.add_argument("--stage", choices=STAGES, help=STAGE_HELP)
    parser.add_argument("--model", help=MODEL_HELP)
    parser.add_argument("--input-shape", help="C,H,W (or F) of one input, for a .pt of your own model "
                                              "(default: what the file or run records, else 1,28,28)")
    parser.set_defaults(handler=export)


def export(args):
    from prunelab import export as exporter
    from prunelab.cli import deploy

    if args.arithmetic is not None and args.format != "c":
        raise PrunelabError("--arithmetic applies to --format c")
    if args.weight_scales is not None and (args.arithmetic or DEFAULT_ARITHMETIC) != "int8":
        raise PrunelabError("--weight-scales applies to --format c --arithmetic int8")
    if args.format == "c":
        if (args.arithmetic or DEFAULT_ARITHMETIC) == "int8":
            from prunelab.cli.integer import export_int

            return export_int(args, deploy.c_name)
        return deploy.export_c(args)
    if args.compact:
        if args.format != "onnx":
            raise PrunelabError("--compact applies to --format onnx (the C export is always compact)")
        return deploy.export_compact_onnx(args)

    from prunelab.cli.sources import load_source, source_input_shape

    model, name, _ = load_source(args.source, args.stage, args.model)
    path = exporter.export(model, args.format, args.output, source_input_shape(args.source, args.input_shape, model, name))
    print(f"wrote {path} ({args.format}, {name}, pruning permanent)")


def register_compress(parser):
    parser.add_argument("source", help="a run directory (its quantized stage, else its pruned model), a .pt, "
                                       "or a compressed file of any format version (rewritten as version 3)")
    parser.add_argument("--output", required=True, help="compressed file to write")
    parser.add_argument("--model", help=MODEL_HELP)
    parser.add_argument("--conv-bits", type=int, help="code width of convolutions (default 8; a compressed "
                                                      "file or quantized stage keeps its own)")
    parser.add_argument("--fc-bits", type=int, help="code width of fully connected layers (default 5)")
    parser.add_argument("--input-shape", help="C,H,W (or F) of one input, for a .pt of your own model "
                                              "(default: what the file or run records, else 1,28,28)")
    parser.add_argument("--index-bits", type=int, default=None,
                        help="relative index width, 1..8; 0 chooses per layer (default 5; a compressed file "
                             "keeps each layer's)")
    parser.set_defaults(handler=compress)


def compress(args):
    from pathlib import Path

    from prunelab.compress import is_compressed_file, pack_model, recompress
    from prunelab.deploy.batchnorm import fold_batchnorm
    from prunelab.compression import CompressedModel, storage_table
    from prunelab.pruning.mask import Mask
    from prunelab.runs.record import verified_file
    from prunelab.training.weight_sharing import SharedWeights, layer_bits

    from prunelab.runs.quantize_stage import FILE_NAME

    source, ready = Path(args.source), Path(args.source) / "quantized" / FILE_NAME
    if ready.is_file() or (source.is_file() and is_compressed_file(source)):
        # a run's file: only the one its quantized stage wrote and recorded
        path = verified_file(ready.parent, ready.name) if ready.is_file() else source
        existing = CompressedModel.read(path)
        refuse_other_code_widths(existing, args.conv_bits, args.fc_bits, path)
        from prunelab.runs.config import load_toml

        own = load_toml(source / "config.toml").model if ready.is_file() else args.model  # the run's, or the user's
        compressed = recompress(existing, args.index_bits, own)
    else:  # k-means without fine-tuning on the pruned weights
        from prunelab.cli.sources import load_source, source_input_shape

        model, name, dataset = load_source(args.source, "pruned", args.model)
        fold_batchnorm(model)  # the file holds the folded layers
        mask = Mask({n: p != 0 for n, p in model.named_parameters() if n in Mask.ones_like(model)})
        bits = (8 if args.conv_bits is None else args.conv_bits, 5 if args.fc_bits is None else args.fc_bits)
        shared = SharedWeights(model, mask, layer_bits(model, mask, *bits))
        index_bits = 5 if args.index_bits is None else args.index_bits
        shape = source_input_shape(args.source, args.input_shape, model, name)
        metadata = {"dataset": dataset or "mnist", **({"input_shape": list(shape)} if shape != (1, 28, 28) else {})}
        compressed = pack_model(model, name, shared, index_bits, metadata, shape)
    compressed.write(args.output)
    CompressedModel.read(args.output)  # verify what was written
    print(format_storage(storage_table(compressed)))
    print(f"wrote {args.output} ({Path(args.output).stat().st_size:,} bytes, format version 3)")


def refuse_other_code_widths(compressed, conv_bits, fc_bits, origin) -> None:
    """A quantized file's codebooks were fine-tuned at their widths; rewriting it cannot change them."""
    for layer in compressed.layers:
        wanted = conv_bits if len(compressed.original_shape(layer.name)) == 4 else fc_bits
        if wanted is not None and wanted != layer.codebook.bits:
            raise PrunelabError(f"{origin} holds {layer.name} with {layer.codebook.bits}-bit codes, fine-tuned at that "
                                f"width; for {wanted} bits rerun the run with --set quantize.conv_bits=/fc_bits=, or "
                                f"compress its pruned/model.pt with --model")


def register_decompress(parser):
    parser.add_argument("file", help="a compressed model file")
    parser.add_argument("--model", help=MODEL_HELP)
    parser.add_argument("--output", help="also write the decoded weights as a .pt state_dict")
    parser.set_defaults(handler=decompress)


def decompress(args):
    from prunelab.compress import compaction_summary, unpack_model
    from prunelab.compression import CompressedModel, file_parts, storage_table
    from prunelab.export import export as write_model

    compressed = CompressedModel.read(args.file)  # first: it refuses a FIFO or a device, which open() would not
    with open(args.file, "rb") as handle:
        version = int.from_bytes(handle.read(10)[8:10], "little")
    model = unpack_model(compressed, args.model)
    floats = sorted({bits for layer in compressed.layers for bits in (layer.float_bits, layer.bias_bits)},
                    reverse=True) or [32]
    print(f"{args.file}: format version {version}, {compressed.model}, metadata {json.dumps(compressed.metadata)}, "
          f"centroids and biases as {' and '.join(f'float{bits}' for bits in floats)}")
    print(format_storage(storage_table(compressed)))
    size = os.path.getsize(args.file)
    print(f"file {size:,} bytes: " + ", ".join(f"{name} {n:,}" for name, n in file_parts(compressed, size).items()))
    print(format_compaction(compaction_summary(compressed, args.model)))
    if args.output:
        write_model(model, "state_dict", args.output)
        print(f"wrote {args.output}")


COMMANDS = {
    "data": (register_data, "fetch datasets"),
    "train": (lambda p: register_pipeline(p, "dense", None), "train a dense model (a run's first stage)"),
    "prune": (lambda p: register_pipeline(p, "pruned", None), "train, then prune and retrain"),
    "run": (lambda p: register_pipeline(p, "all", "main"), "the main job: every stage end to end (preset 'main')"),
    "evaluate": (register_evaluate, "test accuracy of a run's model, a compressed file, a .pt or an .onnx, "
                                    "in PyTorch, onnxruntime or the C engines"),
    "export": (register_export, "export a model with pruning made permanent: ONNX, state_dict, or C (float or int8)"),
    "compress": (register_compress, "write a run's model (or rewrite an older file) as a compact Deep Compression file"),
    "decompress": (register_decompress, "check and decode a compressed file (optionally to a state_dict)"),
    "calibrate": (register_calibrate, "measure activation ranges on training images for the integer engine"),
    "sensitivity": (register_sensitivity, "scan each layer's sensitivity to pruning on the validation split"),
    "sweep": (register_sweep, "run a grid of settings as runs, in parallel; collect results into CSV and SQLite"),
    "report": (register_report, "report.md and figures from runs on disk (read-only)"),
    "bench": (register_bench, "time dense PyTorch against sparse kernels at batch 1, 64 and 1000"),
}
