"""Turn a SOURCE argument (a run directory or a saved state_dict) into a ready model."""

from pathlib import Path

import torch

from prunelab import models
from prunelab.compress import is_compressed_file, unpack_model
from prunelab.compression import CompressedModel
from prunelab.errors import PrunelabError
from prunelab.runs import checkpoint
from prunelab.runs.config import load_toml


def load_source(source: str, stage: str = "pruned", model_name: str | None = None):
    """Return (model, model_name, dataset) from a run directory or a .pt state_dict."""
    path = Path(source)
    if path.is_dir():
        if not (path / "config.toml").exists():
            raise PrunelabError(f"{path} is not a run directory (no config.toml)")
        config = load_toml(path / "config.toml")
        weights = path / stage / "model.pt"
        if not weights.exists():
            raise PrunelabError(f"run {path} has no finished {stage} model; run it first")
        return build_with(config.model, checkpoint.load(weights), weights), config.model, config.data.dataset
    if path.is_file():
        if is_compressed_file(path):
            compressed = CompressedModel.read(path)
            return unpack_model(compressed), compressed.model, compressed.metadata.get("dataset")
        if path.suffix == ".pt":
            if not model_name:
                raise PrunelabError("a .pt state_dict needs --model to say which architecture it is")
            return build_with(model_name, checkpoint.load(path), path), model_name, None
        raise PrunelabError(f"{path}: unknown kind of model file (expected a run directory, a compressed file or a .pt)")
    if path.exists() or path.is_symlink():
        raise PrunelabError(f"{source} is not a regular file or a run directory")
    raise PrunelabError(f"{source} does not exist")


def build_with(name: str, state: dict, origin) -> torch.nn.Module:
    model = models.build(name)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise PrunelabError(f"{origin} does not fit model {name}: {str(exc).splitlines()[0]}") from None
    return model.eval()
