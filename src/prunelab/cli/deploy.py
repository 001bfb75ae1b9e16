"""The deploy side of the command line: C export, compact ONNX, and evaluation through the C engine."""

import re
from pathlib import Path

from prunelab.errors import PrunelabError
from prunelab.foundations.files import write_bytes, write_together

DEFAULT_EXPORT_WEIGHTS = "codebook"  # a third of the flash of "float"; see README "Running the compact model"


def compact_source(source: str, stage: str = "pruned", model_name: str | None = None, input_shape=None):
    """(Compaction, the original graph, model name, dataset) for any SOURCE the CLI accepts."""
    from prunelab.cli.sources import load_source, own_compaction, source_input_shape
    from prunelab.compress import is_compressed_file
    from prunelab.compression import CompressedModel
    from prunelab.deploy.compact import compact
    from prunelab.deploy.graph import trace

    if Path(source).is_file() and is_compressed_file(Path(source)):  # a user's file without --model: as stored
        compressed = CompressedModel.read(source)
        own = own_compaction(source, compressed, model_name)
        if own is not None:
            return own, own.graph, compressed.model, compressed.metadata.get("dataset")
    model, name, dataset = load_source(source, stage, model_name)
    graph = trace(model, source_input_shape(source, input_shape, model, name))
    return compact(graph), graph, name, dataset


def c_name(model: str, given: str | None = None) -> str:
    """The C prefix: ``given``, else the model's name with every other character as _."""
    name = given or re.sub(r"\W", "_", model)
    return "model_" + name if name[:1].isdigit() else name


def describe(compaction, graph) -> str:
    s = compaction.summary(graph)
    read = f", {s['inputs_read']} of {s['inputs']} inputs read" if s["inputs_read"] is not None else ""
    return (f"compact architecture {s['compact_architecture']} (was {s['architecture']}){read}; MACs per image "
            f"{s['macs_dense']:,} dense, {s['macs_nonzero']:,} on nonzero weights, "
            f"{s['macs_compact_dense']:,} for the compact model run densely")


def export_c(args) -> None:
    from prunelab.deploy.cgen import generate

    compaction, graph, model, _ = compact_source(args.source, args.stage, args.model, args.input_shape)
    name = c_name(model, args.name)
    weights = args.weights or DEFAULT_EXPORT_WEIGHTS
    header, source = generate(compaction.graph, name, weights=weights, batch=args.batch,
                              comment=f"From {Path(args.source).name} ({model}).")
    folder = Path(args.output)
    if folder.exists() and not folder.is_dir():
        raise PrunelabError(f"{folder} exists and is not a folder (--format c writes a .h and a .c into a folder)")
    write_together({folder / f"{name}.h": header.encode(), folder / f"{name}.c": source.encode()})
    print(describe(compaction, graph))
    print(f"wrote {folder / (name + '.h')} and {folder / (name + '.c')} (C99, weights as {weights}, "
          f"{args.batch} image(s) a pass)")


def export_compact_onnx(args) -> None:
    from prunelab.deploy.module import to_module
    from prunelab.export import onnx_bytes

    compaction, graph, model, _ = compact_source(args.source, args.stage, args.model, args.input_shape)
    write_bytes(args.output, onnx_bytes(to_module(compaction.graph), tuple(compaction.graph.input_shape)))
    print(describe(compaction, graph))
    print(f"wrote {args.output} (onnx, {model}, compact)")


def c_engine(source: str, stage: str, model_name: str | None, input_shape: str | None = None):
    """(engine, name, dataset): SOURCE's compact model built as the C engine, with the weight
    storage `export` writes by default."""
    from prunelab.deploy.engine import Engine

    compaction, _, name, dataset = compact_source(source, stage, model_name, input_shape)
    return Engine(compaction.graph, weights=DEFAULT_EXPORT_WEIGHTS, batch=64), name, dataset
