"""A run: its directory, its stages in order, and its summary.json.

runs/<model>-<hash>/ holds config.toml, summary.json and links to the stage directories under
runs/stages/, which runs with the same earlier settings share (a sparsity sweep trains the
dense model once).
"""

import contextlib
import functools
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from prunelab import data, models
from prunelab.compress import unpack_model
from prunelab.compression import CompressedModel
from prunelab.data.folder import read_idx_folder
from prunelab.data.npz import npz_path
from prunelab.data.published import PUBLISHED_MD5, idx_md5s
from prunelab.data.splits import STANDARD_COUNTS
from prunelab.errors import PrunelabError
from prunelab.foundations.files import exclusive_lock, make_dir, write_text_if_changed
from prunelab.pruning import report
from prunelab.pruning.mask import Mask
from prunelab.runs import record, stages
from prunelab.runs.config import RunConfig, load_toml, non_default, settings_hash, stage_settings, to_toml
from prunelab.runs.measured import name_by_split
from prunelab.runs.quantize_stage import FILE_NAME, train_quantized
from prunelab.runs.validate import validate
from prunelab.training.device import pick_device
from prunelab.training.loop import evaluate, input_shape

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
    """The settings that name a run: not where it ran (`device`), and its data by content, as its
    stages are: the folder's path gives way to data_content ("" for the published dataset)."""
    values = config.to_dict()
    values.pop("device")
    values["data"].pop("data_dir")
    content = data_content(config)
    if content:
        values["data"]["content"] = content
    return values


def run_name(config: RunConfig) -> str:
    """<model>-<hash of the settings that differ from the defaults>: equal names, equal runs (a
    user's model `pkg.nets:small` is named pkg.nets_small). The same data read from another folder
    is the same run."""
    changed = non_default(run_settings(config), run_settings(RunConfig()))
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', config.model)}-{settings_hash(changed)}"


def run_dir(config: RunConfig, runs_dir: Path) -> Path:
    return Path(runs_dir) / run_name(config)


def stage_dir(config: RunConfig, runs_dir: Path, stage: str) -> Path:
    content = data_content(config)
    changed = non_default(stage_settings(config, stage, content), stage_settings(RunConfig(), stage))
    return Path(runs_dir) / "stages" / f"{stage}-{settings_hash(changed)}"


def data_content(config: RunConfig) -> str:
    """"" when the run trains on the published dataset (from the cache, or the same bytes from a
    folder); otherwise the checksum of the folder's data, or of the user's .npz file, so that
    stages follow the data itself (an edited file, or another file at the same path, trains anew)."""
    if data.is_npz(config.data.dataset):
        path = npz_path(config.data.dataset).resolve()
        try:
            stat = path.stat()
        except OSError as exc:
            raise PrunelabError(f"dataset file {path} cannot be read: {exc.strerror or exc}") from None
        return _file_sha256(str(path), (stat.st_size, stat.st_mtime_ns))
    if not config.data.data_dir:
        return ""
    folder = Path(config.data.data_dir).expanduser().resolve()
    try:
        signature = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.iterdir()))
    except OSError as exc:
        raise PrunelabError(f"data folder {folder} cannot be read: {exc.strerror or exc}") from None
    sha256, md5s = _folder_checksums(str(folder), signature)
    return "" if md5s == PUBLISHED_MD5.get(config.data.dataset) else sha256


@functools.lru_cache(maxsize=8)  # a sweep names its stages many times; the folder is read once
def _folder_checksums(folder: str, signature: tuple) -> tuple[str, dict]:
    """The folder's data: (Splits.sha256, the MD5 of each IDX file unpacked)."""
    splits = read_idx_folder(folder, STANDARD_COUNTS)
    return splits.sha256(), idx_md5s(splits)


@functools.lru_cache(maxsize=8)
def _file_sha256(path: str, signature: tuple) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    path, relative = run / name, os.path.relpath(target, run)
    if path.is_symlink() and os.readlink(path) == relative:
        return  # already there: a finished run is shown again without writing
    try:
        if path.is_symlink() or path.exists():
            path.unlink()
        path.symlink_to(relative)
    except OSError as exc:
        raise PrunelabError(f"could not link {path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def stage_lock(directory: Path, log=print, file_locks: bool = True):
    """Hold `<stage dir>.lock` while a stage is checked and, if need be, computed: parallel sweep
    workers that need the same stage (runs sharing a dense model) take turns, so one trains it and
    the others then reuse it, and none checks a stage while another rewrites it. The block gets the
    error why no lock could be made in a folder that cannot be written, else None. Without
    `file_locks` nothing is locked: for a caller that orders the stages itself (the Ray driver) on a
    filesystem that refuses flock."""
    directory = Path(directory)
    if not file_locks:
        yield None
        return
    waiting = f"{directory.name.split('-')[0]}: waiting, another process is working on {directory}"
    with exclusive_lock(f"{directory}.lock", lambda: log(waiting), read_only_ok=True) as refused:
        yield refused


def execute(config: RunConfig, runs_dir=None, log=print, stop: str = "all", file_locks: bool = True) -> dict:
    """Run the stages up to `stop` (reusing finished ones), write summary.json and return it.
    `file_locks=False` computes stages without their lock (see stage_lock)."""
    validate(config)  # every setting, before anything is written or trained
    runs_dir = Path(runs_dir or default_runs_dir())
    run = run_dir(config, runs_dir)
    make_dir(run)
    write_config(run / "config.toml", config)
    device = pick_device(config.device)
    log(f"run directory: {run}  (device: {device})")
    began = time.perf_counter()
    loaded = data.load(config.data.dataset, data_dir=config.data.data_dir or None)
    splits = prepare_data(config, loaded)
    check_model_fits(config, splits, writes_file=stop == "all")  # before any stage trains
    seconds = {"data": time.perf_counter() - began}
    dense_dir, pruned_dir = stage_dir(config, runs_dir, "dense"), stage_dir(config, runs_dir, "pruned")
    stop = furthest_finished(config, runs_dir, stop)
    trained = []  # the stage directories this call computed (not reused): what a sweep counts
    stage = lambda name, directory, compute: run_stage(run, name, Path(directory), compute, trained, log, file_locks)
    dense = stage("dense", dense_dir, lambda: stages.train_dense(config, splits, dense_dir, device, log))
    seconds["dense"] = dense["seconds"]
    pruned = None
    if stop != "dense":
        pruned = stage("pruned", pruned_dir,
                       lambda: stages.train_pruned(config, splits, dense_dir, pruned_dir, device, log))
        seconds["pruned"] = pruned["seconds"]
    quantized = None
    if stop == "all":
        quantized_dir = stage_dir(config, runs_dir, "quantized")
        quantized = stage("quantized", quantized_dir, lambda: train_quantized(
            config, splits, dense_dir, pruned_dir, quantized_dir, device, log))
        seconds["quantized"] = quantized["seconds"]
    summary = summarize(config, dense_dir, pruned_dir, dense, pruned, seconds, input_shape(splits.test_images))
    if quantized is not None:
        summary["compressed"] = compressed_section(quantized)
    summary = name_by_split(summary)  # validation figures are not filed as test ones
    if config.data.validation:
        summary["final_test"] = final_test(config, run, stop, device, loaded)
        log("test set, once, after choosing on validation: " + ", ".join(
            f"{stage} {100 * r['test_accuracy']:.2f}%" for stage, r in summary["final_test"].items()))
    write_summary(run / "summary.json", summary)
    return {**summary, "run_dir": str(run), "trained": trained}


def write_config(path: Path, config: RunConfig) -> None:
    """The run's config.toml, unless the one there already names this run: settings that differ
    only where the run's name does not look (the device, the folder of the same data) leave the
    first ones in place, so a finished run is shown again without a write."""
    try:
        if run_name(load_toml(path)) == run_name(config):
            return
    except (PrunelabError, OSError):
        pass  # missing, damaged, or naming data that is gone: write it afresh
    write_text_if_changed(path, to_toml(config))


def run_stage(run: Path, name: str, directory: Path, compute, trained: list, log, file_locks: bool = True) -> dict:
    """Link the run to the stage, then reuse it or compute it, deciding which holding the stage's
    lock: of two processes that find it unfinished one computes it and the other then reuses it, and
    no check reads a stage that another process is rewriting. Note it in `trained` when computed here.
    In a folder where no lock can be made (read-only) nobody can rewrite the stage: a finished one is
    checked and reused unlocked, an unfinished one is refused in one line. Without `file_locks` (the
    Ray driver's ordering keeps tasks apart) the same decision is made unlocked."""
    link(run, name, directory)
    with stage_lock(directory, log, file_locks) as refused:
        done = stages.reusable(directory, name, log, refused)
        if done is not None:
            return done
        trained.append(str(directory))
        return compute()


def write_summary(path: Path, summary: dict) -> None:
    """summary.json, unless the one there says the same apart from this invocation's timings (a
    finished run shown again, perhaps in a read-only folder, writes nothing)."""
    untimed = lambda value: {k: v for k, v in value.items() if k != "seconds"}
    try:
        if untimed(json.loads(path.read_text())) == untimed(json.loads(json.dumps(summary))):
            return
    except (OSError, ValueError, AttributeError):
        pass
    write_text_if_changed(path, json.dumps(summary, indent=2) + "\n")


def furthest_finished(config: RunConfig, runs_dir: Path, stop: str) -> str:
    """`stop`, or further where later stages of this run are already finished: a run asked to stop
    early (a sweep that needs only pruned models) keeps, in its summary, the stages it has."""
    for later, stage in (("all", "quantized"), ("pruned", "pruned")):
        if STOPS.index(later) > STOPS.index(stop) and stages.finished(stage_dir(config, runs_dir, stage)) is not None:
            return later
    return stop


def check_model_fits(config: RunConfig, splits, writes_file: bool = False) -> None:
    """The model takes one training example and gives at least as many scores as the data has
    classes, and, where the run will write a compressed file, traces into operations the file
    stores; else one line now, instead of an error in the middle of an epoch or after training."""
    from prunelab.training.loop import as_input

    torch.manual_seed(config.seed)
    model = models.build(config.model).eval()
    example = as_input(torch.as_tensor(np.asarray(splits.train_images[:1])))
    try:
        with torch.no_grad():
            scores = model(example)
    except (RuntimeError, ValueError, IndexError, TypeError) as exc:
        raise PrunelabError(f"{config.model} does not take {config.data.dataset}'s examples of shape "
                            f"{tuple(example.shape[1:])}: {str(exc).splitlines()[0]}") from None
    top = max(int(np.asarray(labels).max(initial=0)) for labels in (splits.train_labels, splits.test_labels))
    if scores.ndim != 2 or scores.shape[1] <= top:
        raise PrunelabError(f"{config.model} gives {tuple(scores.shape[1:])} scores an example, but "
                            f"{config.data.dataset}'s labels run to {top}")
    if writes_file:
        from prunelab.compress import in_model_order
        from prunelab.deploy.graph import trace

        try:
            names = [op.name for op in trace(model, tuple(example.shape[1:])).layers()]
        except PrunelabError as exc:
            raise PrunelabError(f"{config.model} cannot be written to a compressed file (the quantized stage), "
                                f"checked before training: {exc}") from None
        computed, registered = in_model_order(names, dict(model.named_parameters()))
        if computed != registered:
            raise PrunelabError(f"{config.model} computes its layers in another order ({', '.join(computed)}) than it "
                                f"registers them ({', '.join(registered)}), which its compressed file cannot store; "
                                f"checked before training")


def final_test(config: RunConfig, run: Path, stop: str, device, splits) -> dict:
    """With settings chosen on the validation split, each stage's model on the untouched test set of
    the loaded dataset `splits`, once (the quantized stage's compressed file as decoded from disk)."""
    count = config.data.test_limit or len(splits.test_images)
    images, labels = (torch.from_numpy(a[:count].copy()) for a in (splits.test_images, splits.test_labels))
    results = {}
    for stage in STAGES[:STOPS.index(stop) + 1]:
        if stage == "quantized":
            model = unpack_model(CompressedModel.read(record.verified_file(run / stage, FILE_NAME)), config.model)
        else:
            model = stages.load_model(config, run / stage, "cpu")
        results[stage] = evaluate(model.to(device), images, labels)
    return results


def summarize(config, dense_dir, pruned_dir, dense, pruned, seconds, shape=(1, 28, 28)) -> dict:
    model = stages.load_model(config, dense_dir, "cpu")
    summary = {
        "model": config.model, "dataset": config.data.dataset, "seed": config.seed,
        "evaluated_on": config.data.evaluated_on,
        "input_shape": list(shape),
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
