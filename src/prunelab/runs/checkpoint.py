"""Checkpoints and model files, written atomically and read back with weights_only=True."""

import io

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
