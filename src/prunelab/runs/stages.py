"""The stages of a run: dense training, then pruning with retraining.

Each stage lives in its own directory named by a hash of the settings it depends on, and resumes
from `checkpoint.pt` (written after every epoch) when interrupted. Whether a finished one is reused
instead is decided before, holding the stage's lock (pipeline.run_stage, `reusable`).
"""

from pathlib import Path

import torch

from prunelab import methods, models
from prunelab.pruning import schedules, torch_backend
from prunelab.pruning.mask import Mask
from prunelab.runs import checkpoint, record
from prunelab.runs.epochs import finish, run_epochs
from prunelab.training.augment import augment_of
from prunelab.training.loop import evaluate, train_epoch
from prunelab.training.masking import MaskEnforcer
from prunelab.training.metrics import MetricsLog
from prunelab.training.distill import distillation_loss
from prunelab.training.schedule import lr_at, set_lr


def finished(stage_dir: Path):
    """The stage's result if it finished and its record matches this code and its files, else None."""
    return record.check(stage_dir)[0]


def reusable(stage_dir: Path, label: str, log, refused=None):
    """The finished result to reuse, or None after making the directory ready to compute the stage:
    a stale or damaged stage is said so and cleared, an interrupted one loses its cut temporary files.
    Call it holding the stage's lock; `refused`: why the lock could not be taken (a read-only folder),
    raised instead of touching a stage that is not finished."""
    result, problem = record.check(stage_dir)
    if result is not None:
        log(f"{label}: reusing {stage_dir}")
        return result
    if refused is not None:
        raise refused
    if problem:
        log(f"{label}: computing again, {problem}")
    record.start_over(stage_dir)
    return None


def load_model(config, stage_dir: Path, device) -> torch.nn.Module:
    model = models.build(config.model).to(device)
    model.load_state_dict(checkpoint.load(Path(stage_dir) / "model.pt"))
    return model


def epoch_generator(seed: int, stage: str, epoch: int) -> torch.Generator:
    """Batch order depends only on (seed, stage, epoch), so resuming changes nothing."""
    offset = {"dense": 0, "pruned": 7919, "quantized": 15838}[stage]
    return torch.Generator().manual_seed(seed * 1_000_003 + offset + epoch)


def train_dense(config, splits, stage_dir: Path, device, log) -> dict:
    stage_dir = Path(stage_dir)
    torch.manual_seed(config.seed)
    model = models.build(config.model).to(device)
    hp = config.train
    optimizer = torch.optim.SGD(model.parameters(), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay)
    state = checkpoint.resume(stage_dir, model, optimizer, log, "dense", epochs=hp.epochs)
    start, seconds = (state["epoch"], state["seconds"]) if state else (0, 0.0)
    metrics = MetricsLog(stage_dir / "metrics.jsonl", keep_rows=start)

    def step(epoch: int) -> dict:
        set_lr(optimizer, lr_at(epoch, hp.epochs, hp.lr, hp.lr_schedule))
        row = train_epoch(model, optimizer, splits.train_images, splits.train_labels, hp.batch_size,
                          epoch_generator(config.seed, "dense", epoch), progress=f"dense {epoch + 1}/{hp.epochs}",
                          augment=augment_of(hp))
        row.update(evaluate(model, splits.test_images, splits.test_labels))
        return {**row, "stage": "dense", "epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"], "sparsity": 0.0}

    seconds = run_epochs(stage_dir, range(start, hp.epochs), step,
                         lambda done: {"epoch": done, "model": model.state_dict(), "optimizer": optimizer.state_dict()},
                         lambda epoch, row: f"dense epoch {epoch + 1}/{hp.epochs}: loss {row['train_loss']:.4f} "
                                            f"{config.data.evaluated_on} accuracy {row['test_accuracy']:.4f}", log,
                                            metrics, seconds)
    result = {**evaluate(model, splits.test_images, splits.test_labels), "seconds": seconds}
    return finish(stage_dir, result, model.state_dict())


def new_mask(config, model, mask: Mask, target: float) -> Mask:
    """The next mask for `target` sparsity by the configured method's criterion (or torch's pruning)."""
    p = config.prune
    if p.backend == "torch":
        prune = torch_backend.prune_global if p.method == "global" else torch_backend.prune_per_layer
        return prune(model, target)
    return methods.get(p.method).criterion(dict(model.named_parameters()), mask, target, p)


def phases(config, steps_per_epoch: int) -> list[dict]:
    """The prune/retrain rounds: target sparsity and epochs for each."""
    p = config.prune
    if p.schedule == "gradual":
        return [{"target": p.sparsity, "epochs": p.epochs, "gradual": True}]
    rounds = 1 if p.schedule == "oneshot" or methods.get(p.method).one_round else p.rounds
    return [{"target": t, "epochs": p.epochs, "gradual": False} for t in schedules.iterative_targets(p.sparsity, rounds)]


def plain_state_dict(model) -> dict:
    """state_dict with torch's weight_orig * weight_mask folded into `weight` (a no-op for ours)."""
    state = model.state_dict()
    plain = {}
    for key, value in state.items():
        if key.endswith("weight_mask"):
            continue
        if key.endswith("weight_orig"):
            plain[key.removesuffix("_orig")] = value * state[key.removesuffix("orig") + "mask"]
        else:
            plain[key] = value
    return plain


def train_pruned(config, splits, dense_dir: Path, stage_dir: Path, device, log) -> dict:
    stage_dir = Path(stage_dir)
    p = config.prune
    if methods.get(p.method).trainer == "variational":
        from prunelab.runs.svd_stage import train_variational

        return train_variational(config, splits, dense_dir, stage_dir, device, log)
    model = load_model(config, dense_dir, device)
    mask = Mask.ones_like(model)
    first_phase, first_epoch, rows, seconds, state = 0, 0, 0, 0.0, None
    if (stage_dir / "checkpoint.pt").exists():
        state = checkpoint.load(stage_dir / "checkpoint.pt")
        model.load_state_dict(state["model"])
        mask = Mask(state["mask"])
        first_phase, first_epoch, rows, seconds = state["phase"], state["epoch"], state["rows"], state["seconds"]
        log(f"pruned: resuming after round {first_phase + 1}, epoch {first_epoch} of {p.epochs}")
    metrics = MetricsLog(stage_dir / "metrics.jsonl", keep_rows=rows)
    steps_per_epoch = -(-len(splits.train_images) // p_batch(config))
    plan = phases(config, steps_per_epoch)
    loss_fn = None
    if p.distill > 0:
        loss_fn = distillation_loss(load_model(config, dense_dir, device), p.distill, p.temperature)
    for index in range(first_phase, len(plan)):
        phase = plan[index]
        start = first_epoch if index == first_phase else 0
        if state is not None and index == first_phase:
            if p.backend == "torch":
                torch_backend.apply_mask(model, mask)
        elif not phase["gradual"]:
            previous, mask = mask, new_mask(config, model, mask, phase["target"])
            mask.check_shrinks_from(previous)
        optimizer = torch.optim.SGD(model.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)
        if state is not None and index == first_phase and start > 0:
            optimizer.load_state_dict(state["optimizer"])
        keeper = MaskKeeper(config, model, mask, phase, steps_per_epoch, start)
        before = rows - start  # the metrics row of this round's epoch e is before + e

        def step(epoch: int) -> dict:
            set_lr(optimizer, lr_at(epoch, phase["epochs"], p.lr, p.lr_schedule))
            row = train_epoch(model, optimizer, splits.train_images, splits.train_labels, p_batch(config),
                              epoch_generator(config.seed, "pruned", before + epoch), after_step=keeper.after_step,
                              loss_fn=loss_fn, progress=f"round {index + 1}/{len(plan)} epoch {epoch + 1}/{phase['epochs']}",
                              augment=augment_of(config.train))
            keeper.after_epoch()
            row.update(evaluate(model, splits.test_images, splits.test_labels))
            return {**row, "stage": "pruned", "round": index + 1, "epoch": before + epoch + 1,
                    "lr": optimizer.param_groups[0]["lr"], "sparsity": keeper.mask.sparsity(),
                    "target_sparsity": phase["target"]}

        seconds = run_epochs(
            stage_dir, range(start, phase["epochs"]), step,
            lambda done: {"phase": index, "epoch": done, "rows": before + done, "model": plain_state_dict(model),
                          "mask": dict(keeper.mask), "optimizer": optimizer.state_dict()},
            lambda epoch, row: f"prune round {index + 1}/{len(plan)} epoch {epoch + 1}/{phase['epochs']}: sparsity "
                               f"{row['sparsity']:.4f} {config.data.evaluated_on} accuracy {row['test_accuracy']:.4f}",
            log, metrics, seconds)
        rows = before + max(start, phase["epochs"])
        keeper.finish()
        mask = keeper.mask
    if p.backend == "torch":
        torch_backend.make_permanent(model)
    mask.apply_to(model)
    mask.save(stage_dir / "mask.pt")
    result = {**evaluate(model, splits.test_images, splits.test_labels), "seconds": seconds,
              "sparsity": mask.sparsity()}
    return finish(stage_dir, result, model.state_dict(), inputs=[dense_dir])


def p_batch(config) -> int:
    return config.train.batch_size


class MaskKeeper:
    """Keeps the mask in force during retraining, the way the configured method asks.

    prunelab backend: re-applied after every optimizer step (weights and momentum);
    'course' method: re-applied after every epoch only, as the course project did;
    torch backend: torch's forward pre-hook multiplies by the mask, nothing to do;
    gradual schedule: the mask is also tightened every `interval` steps (Zhu & Gupta 2017).
    """

    def __init__(self, config, model, mask, phase, steps_per_epoch, start_epoch):
        self.config, self.model, self.mask, self.phase = config, model, mask, phase
        self.step = start_epoch * steps_per_epoch
        total = phase["epochs"] * steps_per_epoch
        self.end = max(1, int(0.75 * total))  # prune during the first 3/4, then fine-tune
        self.interval = max(1, steps_per_epoch // 4)
        self.per_step = config.prune.backend == "prunelab" and methods.get(config.prune.method).enforce == "step"
        self.enforcer = MaskEnforcer(model, mask) if self.per_step else None

    def after_step(self, model, optimizer) -> None:
        self.step += 1
        if self.phase["gradual"] and self.step % self.interval == 0:
            self.tighten(schedules.agp_sparsity(self.step, self.phase["target"], 0, self.end))
        if self.enforcer is not None:
            self.enforcer(model, optimizer)

    def tighten(self, target: float) -> None:
        if target <= self.mask.sparsity():
            return
        previous, self.mask = self.mask, new_mask(self.config, self.model, self.mask, target)
        self.mask.check_shrinks_from(previous)
        if self.enforcer is not None:
            self.enforcer.set_mask(self.model, self.mask)

    def after_epoch(self) -> None:
        if self.config.prune.backend == "prunelab" and not self.per_step:
            self.mask.apply_to(self.model)

    def finish(self) -> None:
        if self.phase["gradual"]:
            self.tighten(self.phase["target"])
        if self.config.prune.backend == "prunelab":
            self.mask.apply_to(self.model)
