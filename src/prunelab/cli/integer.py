"""The integer engine on the command line: `calibrate`, and the int8 sides of `export --format c`
and `evaluate` (``--arithmetic int8``)."""

import hashlib
from pathlib import Path

import numpy as np

from prunelab import data
from prunelab.cli.settings import MODEL_HELP
from prunelab.errors import PrunelabError
from prunelab.foundations.files import write_bytes, write_together

ARITHMETICS = ("float", "int8")
# float stays the default of `export --format c`: it needs no calibration, runs every file (tanh
# included) and gives PyTorch's classes; int8 is for parts without an FPU or with little RAM.
DEFAULT_ARITHMETIC = "float"


def register_calibrate(parser):
    parser.add_argument("file", help="a compressed file (or a run directory: its quantized stage's file)")
    parser.add_argument("--output", required=True, help="the calibrated copy to write (may be FILE itself)")
    parser.add_argument("--images", type=int, default=None,
                        help="training images to measure (default 10,000: the first of the training split)")
    parser.add_argument("--dataset", help="default: the file's")
    parser.add_argument("--data-dir", help="a folder holding the four official IDX files")
    parser.add_argument("--model", help=MODEL_HELP)
    parser.set_defaults(handler=calibrate)


def calibrate(args):
    from prunelab.compression import CompressedModel
    from prunelab.deploy.calibrate import DEFAULT_IMAGES, stored_ranges

    path = _file_of(args.file)
    compressed = CompressedModel.read(path)
    count = DEFAULT_IMAGES if args.images is None else args.images
    if count < 1:
        raise PrunelabError(f"--images must be at least 1, got {count}")
    calibrated, used = with_calibration(compressed, args.model, args.dataset, args.data_dir, count)
    ranges = stored_ranges(calibrated)
    if ranges is None:
        raise PrunelabError("this model has residual adds or concatenations, which the integer engine does not "
                            "run yet: there is nothing to calibrate")
    write_bytes(args.output, calibrated.to_bytes())
    CompressedModel.read(args.output)  # verify what was written
    print(f"calibrated on {used:,} training images: "
          + ", ".join(f"{name} {value:.3g}" for name, value in ranges.items()))
    print(f"wrote {args.output}")


def with_calibration(compressed, model_name=None, dataset=None, data_dir=None, count=None):
    """(``compressed`` with its activation ranges in the metadata, the images used): the first
    ``count`` training images of its dataset (the same whichever split a run validated on)."""
    from prunelab.deploy.calibrate import DEFAULT_IMAGES, calibrated

    dataset = dataset or compressed.metadata.get("dataset") or "mnist"
    images = data.load(dataset, data_dir=data_dir).train_images[:count or DEFAULT_IMAGES]
    return calibrated(compressed, images, model_name), len(images)


def _file_of(source: str) -> Path:
    """A compressed file, or a run directory's quantized file (checked against its stage record)."""
    from prunelab.compress import is_compressed_file
    from prunelab.runs.quantize_stage import FILE_NAME
    from prunelab.runs.record import verified_file

    path = Path(source)
    if path.is_dir():
        if not (path / "quantized" / FILE_NAME).is_file():
            raise PrunelabError(f"{path} has no quantized stage; the integer engine runs a compressed file")
        return verified_file(path / "quantized", FILE_NAME)
    if path.is_file() and is_compressed_file(path):
        return path
    if path.exists():
        raise PrunelabError(f"{path}: the integer engine runs a compressed file (.plc) or a run directory")
    raise PrunelabError(f"{path} does not exist")


def int_plan_of(source: str, model_name=None, scales: str | None = None):
    """(IntPlan, model name, dataset) of a calibrated compressed file or a run's quantized file."""
    from prunelab.compress import compact_graph
    from prunelab.compression import CompressedModel
    from prunelab.deploy.calibrate import stored_ranges
    from prunelab.deploy.intplan import int_plan

    path = _file_of(source)
    compressed = CompressedModel.read(path)
    try:
        graph = compact_graph(compressed, model_name)
        ranges = stored_ranges(compressed)
        if ranges is None and graph.is_chain():  # a graph that branches gets int_plan's own refusal instead
            raise PrunelabError(f"it holds no calibration for the integer engine; run "
                                f"`prunelab calibrate {path} --output CALIBRATED.plc` first")
        plan = int_plan(graph, ranges or {}, scales or "layer")
    except PrunelabError as exc:
        raise PrunelabError(f"{path}: {exc}") from None
    return plan, model_name or compressed.model, compressed.metadata.get("dataset")


def export_int(args, name_of) -> None:
    from prunelab.deploy import cint
    from prunelab.deploy.intplan import ram_bytes

    if args.batch != 1 or args.weights is not None:
        raise PrunelabError("--arithmetic int8 takes no --batch or --weights (one image a call, int8 weights)")
    plan, model, _ = int_plan_of(args.source, args.model, args.weight_scales)
    name = name_of(model, args.name)
    header, source = cint.generate(plan, name, comment=f"From {Path(args.source).name} ({model}).")
    folder = Path(args.output)
    if folder.exists() and not folder.is_dir():
        raise PrunelabError(f"{folder} exists and is not a folder (--format c writes a .h and a .c into a folder)")
    write_together({folder / f"{name}.h": header.encode(), folder / f"{name}.c": source.encode()})
    ram = ram_bytes(plan)
    print(f"integer engine: {' '.join(str(s.stage.layer.weight.shape[0]) for s in plan.stages)} units, static RAM "
          f"{sum(ram.values()):,} bytes ({', '.join(f'{k} {v:,}' for k, v in ram.items())})")
    print(f"wrote {folder / (name + '.h')} and {folder / (name + '.c')} (C99, int8 weights and activations, "
          f"int32 sums, no floating point)")


def evaluate_int(args) -> dict:
    """Test accuracy of the integer engine, as C (``--engine c``) or the Python reference
    (``--engine reference``), with the SHA-256 of all int32 scores so the two can be compared."""
    from prunelab.deploy import intref
    from prunelab.deploy.engine import IntEngine

    plan, name, dataset = int_plan_of(args.source, args.model, args.weight_scales)
    dataset = args.dataset or dataset or "mnist"
    splits = data.load(dataset, data_dir=args.data_dir)
    images = splits.test_images
    if images.reshape(len(images), -1).shape[1] != plan.plan.inputs:
        raise PrunelabError(f"{dataset}'s images do not fit {args.source} (it takes {plan.plan.inputs} values)")
    scores = intref.scores(plan, images) if args.engine == "reference" else IntEngine(plan).scores(images)
    correct = int((scores.argmax(1) == splits.test_labels).sum())
    return {"test_accuracy": correct / len(images), "test_correct": correct, "test_errors": len(images) - correct,
            "engine": f"{args.engine}-int8", "scores_sha256": hashlib.sha256(np.ascontiguousarray(
                scores, dtype="<i4").tobytes()).hexdigest(), "model": name, "dataset": dataset}
