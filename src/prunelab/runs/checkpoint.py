"""Checkpoints and model files, written atomically and read back with weights_only=True."""

import io
from pathlib import Path

import torch

from prunelab.errors import PrunelabError
from prunelab.foundations.files import read_regular, write_bytes


def save(path, value) -> None:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    write_bytes(path, buffer.getvalue())


MAX_BYTES = 1 << 30  # a checkpoint of these models is a few MB


def load(path):
    if not Path(path).exists() and not Path(path).is_symlink():
        raise PrunelabError(f"{path} does not exist")
    data = read_regular(path, MAX_BYTES, "checkpoint")  # a FIFO or /dev/zero would hang torch.load
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise PrunelabError(f"{path} is unreadable ({type(exc).__name__}); delete it to redo this stage") from None


def resume(stage_dir, model, optimizer, log, label: str, name: str = "checkpoint.pt", epochs: int | None = None):
    """Load the stage's last per-epoch checkpoint into model and optimizer, if there is one.

    `epochs`: the stage's total, for the message. Returns the whole checkpoint (for stage-specific extras) or None when starting fresh.
    """
    path = Path(stage_dir) / name
    if not path.exists():
        return None
    state = load(path)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    # the checkpoint counts finished epochs: after the last one only the stage's ending is left
    total = f" of {epochs}" if epochs is not None else ""
    log(f"{label}: resuming after epoch {state['epoch']}{total}")
    return state
