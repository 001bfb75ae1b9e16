"""Checkpoints and model files, written atomically and read back with weights_only=True."""

import io
from pathlib import Path

import torch

from prunelab.errors import PrunelabError
from prunelab.foundations.files import write_bytes


def save(path, value) -> None:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    write_bytes(path, buffer.getvalue())


def load(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise PrunelabError(f"{path} does not exist") from None
    except Exception as exc:  # torch raises many types for a damaged file
        raise PrunelabError(f"{path} is unreadable ({type(exc).__name__}); delete it to redo this stage") from None


def resume(stage_dir, model, optimizer, log, label: str, name: str = "checkpoint.pt"):
    """Load the stage's last per-epoch checkpoint into model and optimizer, if there is one.

    Returns the whole checkpoint (for stage-specific extras) or None when starting fresh.
    """
    path = Path(stage_dir) / name
    if not path.exists():
        return None
    state = load(path)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    log(f"{label}: resuming at epoch {state['epoch'] + 1}")
    return state
