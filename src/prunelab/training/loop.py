"""One epoch of training, and evaluation. Batches are drawn from in-memory uint8 tensors."""

import sys
import time

import torch
import torch.nn.functional as F
from tqdm import tqdm

from prunelab.errors import PrunelabError
from prunelab.training.augment import Augment


def as_input(images: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) bytes -> (N, 1, 28, 28) float pixels in [0, 1], what every model takes; a user's
    (N, C, H, W) or (N, features) keeps its shape, and float32 values are taken as they are."""
    x = images.unsqueeze(1) if images.ndim == 3 else images
    return x.float() if x.is_floating_point() else x.float().div_(255.0)


def input_shape(images: torch.Tensor) -> tuple[int, ...]:
    """The shape of one example as the model sees it, e.g. (1, 28, 28)."""
    return tuple(as_input(images[:1]).shape[1:])


def train_epoch(model, optimizer, images, labels, batch_size, generator, after_step=None,
                scheduler=None, progress=None, extra_loss=None, loss_fn=None, augment: Augment = Augment()) -> dict:
    """Train one epoch on in-memory uint8 images, batches in a random order from `generator`;
    `augment` (random shifts, rotations, scaling: training/augment.py) draws from the same
    generator, so the augmentation is part of the seed."""
    if augment and images.ndim < 3:
        raise PrunelabError("train.shift, train.rotate and train.scale move images; this data holds feature vectors")
    order = torch.randperm(len(images), generator=generator)
    return train_batches(model, optimizer, _shuffled(images, labels, order, batch_size, augment, generator), after_step,
                         scheduler, progress, extra_loss, loss_fn, total=-(-len(images) // batch_size))


def _shuffled(images, labels, order, batch_size, augment, generator):
    for begin in range(0, len(images), batch_size):
        index = order[begin:begin + batch_size]
        yield augment(as_input(images[index]), generator), labels[index]


def train_batches(model, optimizer, batches, after_step=None, scheduler=None, progress=None,
                  extra_loss=None, loss_fn=None, total=None) -> dict:
    """Train on every (x, y) of `batches` (float inputs, class labels): the one loop every stage and the
    Python API use. `after_step(model, optimizer)` runs after every optimizer step.

    `loss_fn(scores, x, y)` replaces the cross-entropy (e.g. distillation from a teacher);
    `extra_loss(model)`, when given, is added to it (e.g. a KL term).
    """
    device = next(model.parameters()).device
    model.train()
    total_loss, seen, start = 0.0, 0, time.perf_counter()
    quiet = progress is None or not sys.stderr.isatty()
    bar = tqdm(batches, desc=progress, leave=False, disable=quiet, unit="batch", total=total)
    for x, y in bar:
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True).long()
        optimizer.zero_grad(set_to_none=True)
        scores = model(x)
        loss = F.cross_entropy(scores, y) if loss_fn is None else loss_fn(scores, x, y)
        if extra_loss is not None:
            loss = loss + extra_loss(model)
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step(model, optimizer)
        if scheduler is not None:
            scheduler.step()
        total_loss += float(loss.detach()) * len(y)
        seen += len(y)
        if not quiet and bar.n % 20 == 0:
            bar.set_postfix_str(f"loss {total_loss / seen:.4f}", refresh=False)
    if not seen:
        raise PrunelabError("no training data: the batches are empty")
    return {"train_loss": total_loss / seen, "train_seconds": time.perf_counter() - start}


@torch.no_grad()
def evaluate(model, images, labels, batch_size: int = 1000) -> dict:
    """Loss, accuracy (a fraction), correctly classified count and errors on a split."""
    device = next(model.parameters()).device
    model.eval()
    total_loss, correct, start = 0.0, 0, time.perf_counter()
    for begin in range(0, len(images), batch_size):
        x = as_input(images[begin:begin + batch_size]).to(device)
        y = labels[begin:begin + batch_size].to(device).long()
        scores = model(x)
        total_loss += float(F.cross_entropy(scores, y, reduction="sum"))
        correct += int((scores.argmax(1) == y).sum())
    count = len(images)
    return {
        "test_loss": total_loss / count,
        "test_accuracy": correct / count,
        "test_correct": correct,
        "test_errors": count - correct,
        "test_seconds": time.perf_counter() - start,
    }
