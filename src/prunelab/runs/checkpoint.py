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


def resume(stage_dir, model, optimizer, log, label: str, name: str = "checkpoint.pt", epochs: int | None = None,
           extras=()):
    """Load the stage's last per-epoch checkpoint into model and optimizer, if there is one that fits.

    `epochs`: the stage's total (a checkpoint past it does not fit); `extras`: the keys the stage
    reads besides model, optimizer, epoch and seconds. A checkpoint that does not fit this stage
    (another architecture, a missing key, a value of the wrong type, an epoch out of range) is
    said so and removed, and the stage starts over: nothing of it is loaded. Returns the whole
    checkpoint (for stage-specific extras) or None when starting fresh.
    """
    path = Path(stage_dir) / name
    if not path.exists():
        return None
    try:
        state = load(path)
        problem = _misfit(state, model, epochs, extras)
    except PrunelabError as exc:
        problem = str(exc)
    if problem is None:
        saved = {k: v.clone() for k, v in model.state_dict().items()}
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
            model.load_state_dict(saved)
            problem = f"its optimizer state does not fit ({type(exc).__name__})"
    if problem is not None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:  # a folder in its place, a read-only stage: not ours to clear
            raise PrunelabError(f"the checkpoint {path} does not fit this stage ({problem}) and could not be "
                                f"removed: {exc.strerror or exc}") from None
        log(f"{label}: the checkpoint {path} does not fit this stage ({problem}); starting the stage over")
        return None
    # the checkpoint counts finished epochs: after the last one only the stage's ending is left
    total = f" of {epochs}" if epochs is not None else ""
    log(f"{label}: resuming after epoch {state['epoch']}{total}")
    return state


def _misfit(state, model, epochs, extras) -> str | None:
    """Why ``state`` cannot be this stage's checkpoint, or None."""
    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__}, not a checkpoint"
    missing = [k for k in ("model", "optimizer", "epoch", "seconds", *extras) if k not in state]
    if missing:
        return f"it lacks {', '.join(missing)}"
    epoch, seconds = state["epoch"], state["seconds"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch <= (epochs if epochs is not None else epoch):
        return f"epoch {epoch!r} is not a finished epoch of {epochs}"
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 <= seconds < float("inf"):
        return f"seconds {seconds!r} is not a duration"
    if not isinstance(state["model"], dict) or not isinstance(state["optimizer"], dict):
        return "its model or optimizer state is not a state_dict"
    expected = model.state_dict()
    given = state["model"]
    if set(given) != set(expected) or any(not isinstance(given[k], torch.Tensor) or given[k].shape != v.shape
                                          for k, v in expected.items()):
        return "its model is another architecture"
    return None
