"""Learning rate per epoch, as a pure function (so a resumed run needs no scheduler state)."""

import math

from prunelab.errors import PrunelabError


def lr_at(epoch: int, epochs: int, base_lr: float, schedule: str) -> float:
    if schedule == "constant":
        return base_lr
    if schedule == "cosine":
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * epoch / max(1, epochs)))
    raise PrunelabError(f"unknown lr_schedule '{schedule}'; choose constant or cosine")


def set_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
