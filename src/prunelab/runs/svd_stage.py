"""Pruning by Sparse Variational Dropout: train the variational model, keep log alpha < 3.

Starts from the dense model (as Molchanov et al. do for LeNet), trains with Adam on the data
loss plus the KL term divided by the number of training images, the KL weight rising linearly
over `kl_warmup` epochs to `kl_scale` (1 is their variational bound; a smaller weight trades
sparsity for accuracy; `unit_kl_scale` weighs svd-units' units' KL against the weights';
`layer_kl` multiplies chosen layers' weights' KL, to prune harder where a weight costs more; with
`distill` > 0 part of the data term is distillation from the dense model, as in the pruned stage), then
writes the plain model, its mask and result like the pruned stage.
The method says which variational model to train (``Method.variational``): Sparse VD's weight
noise, or that and a noise per unit (svd-units); everything else here is shared.
"""

from pathlib import Path

import torch

from prunelab import methods
from prunelab.pruning import variational
from prunelab.pruning.mask import Mask
from prunelab.runs import checkpoint
from prunelab.runs.config import layer_kl_factors
from prunelab.runs.epochs import finish, run_epochs
from prunelab.runs.stages import epoch_generator, load_model
from prunelab.training.augment import augment_of
from prunelab.training.distill import distillation_loss
from prunelab.training.loop import evaluate, train_epoch
from prunelab.training.metrics import MetricsLog
from prunelab.training.schedule import lr_at, set_lr


def noise_seed(seed: int, epoch: int) -> int:
    """The seed of an epoch's noise (a method with ``seeded_noise``): resuming draws the same noise."""
    return seed * 1_000_003 + 23_757 + epoch


def train_variational(config, splits, dense_dir: Path, stage_dir: Path, device, log) -> dict:
    p = config.prune
    method = methods.get(p.method)
    model = method.variational(load_model(config, dense_dir, device))
    optimizer = torch.optim.Adam(model.parameters(), lr=p.lr)
    state = checkpoint.resume(stage_dir, model, optimizer, log, f"pruned ({p.method})", epochs=p.epochs)
    start, seconds = (state["epoch"], state["seconds"]) if state else (0, 0.0)
    metrics = MetricsLog(stage_dir / "metrics.jsonl", keep_rows=start)
    count = len(splits.train_images)
    factors = layer_kl_factors(p.layer_kl)
    loss_fn = None  # the data term: cross-entropy, or part of it distilled from the dense model
    if p.distill > 0:
        loss_fn = distillation_loss(load_model(config, dense_dir, device), p.distill, p.temperature)

    def step(epoch: int) -> dict:
        set_lr(optimizer, lr_at(epoch, p.epochs, p.lr, p.lr_schedule))
        weight = p.kl_scale * min(1.0, (epoch + 1) / max(1, p.kl_warmup))
        if method.seeded_noise:
            torch.manual_seed(noise_seed(config.seed, epoch))
        row = train_epoch(model, optimizer, splits.train_images, splits.train_labels, config.train.batch_size,
                          epoch_generator(config.seed, "pruned", epoch), progress=f"{p.method} {epoch + 1}/{p.epochs}",
                          extra_loss=lambda m: weight * variational.total_kl(m, p.unit_kl_scale, factors) / count,
                          loss_fn=loss_fn, augment=augment_of(config.train))
        mask = Mask(variational.masks_of(model))
        row.update(evaluate(model, splits.test_images, splits.test_labels))
        return {**row, "stage": "pruned", "epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"],
                "sparsity": mask.sparsity(), "kl_weight": weight, "units": variational.live_units(model)}

    seconds = run_epochs(stage_dir, range(start, p.epochs), step,
                         lambda done: {"epoch": done, "model": model.state_dict(), "optimizer": optimizer.state_dict()},
                         lambda epoch, row: f"{p.method} epoch {epoch + 1}/{p.epochs}: sparsity {row['sparsity']:.4f} "
                                            f"units {'-'.join(map(str, row['units'].values()))} "
                                            f"{config.data.evaluated_on} accuracy {row['test_accuracy']:.4f}", log, metrics,
                                            seconds)
    mask = Mask(variational.masks_of(model))
    plain = load_model(config, dense_dir, device)
    plain.load_state_dict(variational.plain_state_dict(model))
    mask.save(stage_dir / "mask.pt")
    result = {**evaluate(plain, splits.test_images, splits.test_labels), "seconds": seconds, "sparsity": mask.sparsity()}
    return finish(stage_dir, result, plain.state_dict(), inputs=[dense_dir])
