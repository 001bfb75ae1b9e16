"""Dense training of a user's model with prunelab's loop, before pruning: what the runs' dense stage
does (SGD with momentum and weight decay, the learning rate constant or on a cosine over the epochs,
batches in a seeded order), on the user's data."""

import torch

from prunelab.api.data import batches, check_training, classes_of, steps_per_epoch
from prunelab.errors import PrunelabError
from prunelab.training.loop import train_batches
from prunelab.training.schedule import lr_at, set_lr

SCHEDULES = ("constant", "cosine")


def train(model: torch.nn.Module, data, *, epochs: int = 1, lr: float = 0.05, momentum: float = 0.9,
          weight_decay: float = 0.0, batch_size: int = 128, schedule: str = "cosine", seed: int = 0,
          progress: bool = True) -> list[float]:
    """Train ``model`` in place for ``epochs`` on ``data`` (a pair (x, y) or a DataLoader); returns the
    mean training loss of each epoch. The model is left in eval mode. ``progress``: a bar on stderr
    (epoch, loss) when it is a terminal."""
    check_training(batch_size, epochs, lr, momentum)
    if schedule not in SCHEDULES:
        raise PrunelabError(f"schedule must be one of {', '.join(SCHEDULES)}, not {schedule!r}")
    if not isinstance(weight_decay, (int, float)) or isinstance(weight_decay, bool) or not 0 <= weight_decay < 1:
        raise PrunelabError(f"weight_decay must be in [0, 1), got {weight_decay!r}")
    classes = classes_of(model, data)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    losses, total = [], _total(data, batch_size)
    for epoch in range(epochs):
        set_lr(optimizer, lr_at(epoch, epochs, lr, schedule))
        label = f"train {epoch + 1}/{epochs}" if progress else None
        losses.append(train_batches(model, optimizer, batches(data, batch_size, generator, classes), progress=label,
                                    total=total)["train_loss"])
    model.eval()
    return losses


def _total(data, batch_size: int) -> int | None:
    """Batches an epoch, for the progress bar (None: a loader without a length)."""
    try:
        return steps_per_epoch(data, batch_size)
    except PrunelabError:
        return None
