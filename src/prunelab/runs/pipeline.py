"""A run: its directory, its stages in order, and its summary.json.

runs/<model>-<hash>/ holds config.toml, summary.json and links to the stage directories under
runs/stages/, which runs with the same earlier settings share (a sparsity sweep trains the
dense model once).
"""

import contextlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from prunelab import data, models
from prunelab.compress import unpack_model
from prunelab.compression import CompressedModel
from prunelab.foundations.files import write_json, write_text
from prunelab.pruning import report
from prunelab.pruning.mask import Mask
from prunelab.runs import stages
from prunelab.runs.quantize_stage import FILE_NAME, train_quantized
from prunelab.runs.config import RunConfig, non_default, settings_hash, stage_settings, to_toml
from prunelab.training.device import pick_device
from prunelab.training.loop import evaluate, input_shape

try:
    import fcntl
except ImportError:  # POSIX only; on Windows parallel workers must not share stages
    fcntl = None

RUNS_ENV = "PRUNELAB_RUNS_DIR"
STAGES = ("dense", "pruned", "quantized")
STOPS = ("dense", "pruned", "all")


@dataclass
class TensorSplits:
    train_images: torch.Tensor  # (N, 28, 28) uint8
    train_labels: torch.Tensor  # (N,) uint8
    test_images: torch.Tensor
    test_labels: torch.Tensor


def default_runs_dir() -> Path:
    return Path(os.environ.get(RUNS_ENV, "runs"))


def run_settings(config: RunConfig) -> dict:
    values = config.to_dict()
    values.pop("device")  # where it ran does not name the run
    return values


def run_name(config: RunConfig) -> str:
    """<model>-<hash of the settings that differ from the defaults>: equal names, equal runs (a
    user's model `pkg.nets:small` is named pkg.nets_small)."""
    changed = non_default(run_settings(config), run_settings(RunConfig()))
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', config.model)}-{settings_hash(changed)}"


def run_dir(config: RunConfig, runs_dir: Path) -> Path:
    return Path(runs_dir) / run_name(config)


def stage_dir(config: RunConfig, runs_dir: Path, stage: str) -> Path:
    changed = non_default(stage_settings(config, stage), stage_settings(RunConfig(), stage))
    return Path(runs_dir) / "stages" / f"{stage}-{settings_hash(changed)}"


def prepare_data(config: RunConfig, splits) -> TensorSplits:
    """The loaded dataset as the run trains and evaluates on it (validation split, limits)."""
    d = config.data
    if d.validation:
        splits = splits.with_validation()
    train_n = d.train_limit or len(splits.train_images)
    test_n = d.test_limit or len(splits.test_images)
    return TensorSplits(
        torch.from_numpy(splits.train_images[:train_n].copy()), torch.from_numpy(splits.train_labels[:train_n].copy()),
        torch.from_numpy(splits.test_images[:test_n].copy()), torch.from_numpy(splits.test_labels[:test_n].copy()))


def link(run: Path, name: str, target: Path) -> None:
    path = run / name
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(os.path.relpath(target, run))


@contextlib.contextmanager
def stage_lock(directory: Path, log=print):
    """Hold `<stage dir>.lock` while a stage runs: parallel sweep workers that need the same stage
    (runs sharing a dense model) take turns, so one trains it and the others then reuse it."""
    if fcntl is None:
        yield
        return
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{directory}.lock", "a") as handle:  # the lock goes when the file closes
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"{directory.name.split('-')[0]}: waiting, another process is working on {directory}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def execute(config: RunConfig, runs_dir=None, log=print, stop: str = "all") -> dict:
    """Run the stages up to `stop` (reusing finished ones), write summary.json and return it."""
    models.build(config.model)  # fail fast on an unknown model
    runs_dir = Path(runs_dir or default_runs_dir())
    run = run_dir(config, runs_dir)
    run.mkdir(parents=True, exist_ok=True)
    write_text(run / "config.toml", to_toml(config))
    device = pick_device(config.device)
    log(f"run directory: {run}  (device: {device})")
    began = time.perf_counter()
    loaded = data.load(config.data.dataset, data_dir=config.data.data_dir or None)
    splits = prepare_data(config, loaded)
    seconds = {"data": time.perf_counter() - began}
    dense_dir, pruned_dir = stage_dir(config, runs_dir, "dense"), stage_dir(config, runs_dir, "pruned")
    stop = furthest_finished(config, runs_dir, stop)
    link(run, "dense", dense_dir)
    with stage_lock(dense_dir, log):
        dense = stages.train_dense(config, splits, dense_dir, device, log)
    seconds["dense"] = dense["seconds"]
    pruned = None
    if stop != "dense":
        link(run, "pruned", pruned_dir)
        with stage_lock(pruned_dir, log):
            pruned = stages.train_pruned(config, splits, dense_dir, pruned_dir, device, log)
        seconds["pruned"] = pruned["seconds"]
    quantized = None
    if stop == "all":
        quantized_dir = stage_dir(config, runs_dir, "quantized")
        link(run, "quantized", quantized_dir)
        with stage_lock(quantized_dir, log):
            quantized = train_quantized(config, splits, dense_dir, pruned_dir, quantized_dir, device, log)
        seconds["quantized"] = quantized["seconds"]
    summary = summarize(config, dense_dir, pruned_dir, dense, pruned, seconds, input_shape(splits.test_images))
    if quantized is not None:
        summary["compressed"] = compressed_section(quantized)
    if config.data.validation:
        summary["final_test"] = final_test(config, run, stop, device, loaded)
        log("test set, once, after choosing on validation: " + ", ".join(
            f"{stage} {100 * r['test_accuracy']:.2f}%" for stage, r in summary["final_test"].items()))
    write_json(run / "summary.json", summary)
    return {**summary, "run_dir": str(run)}


def furthest_finished(config: RunConfig, runs_dir: Path, stop: str) -> str:
    """`stop`, or further where later stages of this run are already finished: a run asked to stop
    early (a sweep that needs only pruned models) keeps, in its summary, the stages it has."""
    for later, stage in (("all", "quantized"), ("pruned", "pruned")):
        if STOPS.index(later) > STOPS.index(stop) and (stage_dir(config, runs_dir, stage) / "result.json").exists():
            return later
    return stop


def final_test(config: RunConfig, run: Path, stop: str, device, splits) -> dict:
    """With settings chosen on the validation split, each stage's model on the untouched test set of
    the loaded dataset `splits`, once (the quantized stage's compressed file as decoded from disk)."""
    count = config.data.test_limit or len(splits.test_images)
    images, labels = (torch.from_numpy(a[:count].copy()) for a in (splits.test_images, splits.test_labels))
    results = {}
    for stage in STAGES[:STOPS.index(stop) + 1]:
        if stage == "quantized":
            model = unpack_model(CompressedModel.read(run / stage / FILE_NAME))
        else:
            model = stages.load_model(config, run / stage, "cpu")
        results[stage] = evaluate(model.to(device), images, labels)
    return results


def summarize(config, dense_dir, pruned_dir, dense, pruned, seconds, shape=(1, 28, 28)) -> dict:
    model = stages.load_model(config, dense_dir, "cpu")
    summary = {
        "model": config.model, "dataset": config.data.dataset, "seed": config.seed,
        "evaluated_on": "validation" if config.data.validation else "test",
        "parameters": models.count_parameters(model),
        "dense": section(dense, report.layer_table(model, Mask.ones_like(model), shape)),
        "seconds": seconds,
    }
    if pruned is not None:
        rows = report.layer_table(model, Mask.load(Path(pruned_dir) / "mask.pt"), shape)
        summary["pruned"] = {**section(pruned, rows), "sparsity": pruned["sparsity"], "layers": rows,
                             "method": config.prune.method, "backend": config.prune.backend,
                             "schedule": config.prune.schedule}
    return summary


def section(result: dict, rows: list) -> dict:
    return {"test_accuracy": result["test_accuracy"], "test_errors": result["test_errors"],
            "test_loss": result["test_loss"], "weights_total": rows[-1]["weights"],
            "weights_nonzero": rows[-1]["kept"], "macs": rows[-1]["macs_pruned"]}


def compressed_section(result: dict) -> dict:
    """The file's real size against dense fp32, its accuracy, the paper-style storage table, and the
    compact architecture with the MACs before and after (files written before format 3 have none)."""
    keys = ("file_bytes", "dense_bytes", "ratio", "test_accuracy", "test_errors", "test_loss", "table")
    return {"file": f"quantized/{FILE_NAME}", **{k: result[k] for k in keys},
            **({"compaction": result["compaction"]} if "compaction" in result else {}),
            "before_finetuning": {k: result["before_finetuning"][k] for k in ("test_accuracy", "test_errors")},
            **({"retrained": {k: result["retrained"][k] for k in ("test_accuracy", "test_errors")}}
               if result.get("retrained") else {})}
