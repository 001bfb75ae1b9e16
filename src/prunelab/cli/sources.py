"""Turn a SOURCE argument (a run directory or a saved state_dict) into a ready model."""

import sys
from pathlib import Path

import torch

from prunelab import models
from prunelab.compress import compaction, has_own_graph, is_compressed_file, unpack_model
from prunelab.compression import CompressedModel
from prunelab.errors import PrunelabError
from prunelab.runs import checkpoint
from prunelab.runs.config import load_toml


def load_source(source: str, stage: str | None = None, model_name: str | None = None):
    """Return (model, model_name, dataset) from a run directory, a compressed file or a .pt state_dict.
    A run directory gives its ``stage``'s model; without one, its compressed file when it has one,
    else its pruned model, and says on stderr which it took."""
    path = Path(source)
    if path.is_dir():
        if not (path / "config.toml").exists():
            raise PrunelabError(f"{path} is not a run directory (no config.toml)")
        config = load_toml(path / "config.toml")
        chosen = stage or ("quantized" if (path / "quantized" / "model.plc").is_file() else "pruned")
        if stage is None:
            what = "its compressed file" if chosen == "quantized" else "no compressed file"
            print(f"{path}: the {chosen} model ({what}; --stage chooses)", file=sys.stderr)
        if chosen == "quantized":
            return _run_file(path, config), config.model, config.data.dataset
        weights = path / chosen / "model.pt"
        if not weights.exists():
            raise PrunelabError(f"run {path} has no finished {chosen} model; run it first")
        return build_with(config.model, checkpoint.load(weights), weights), config.model, config.data.dataset
    if path.is_file():
        if is_compressed_file(path):  # the user's --model, if given, else only a built-in model the file names
            compressed = CompressedModel.read(path)
            try:
                own = own_compaction(path, compressed, model_name)
                if own is not None:
                    from prunelab.deploy.module import to_module

                    return to_module(own.graph), compressed.model, compressed.metadata.get("dataset")
                model = unpack_model(compressed, model_name)
            except PrunelabError as exc:
                raise PrunelabError(f"{path}: {exc}") from None
            return model, model_name or compressed.model, compressed.metadata.get("dataset")
        if path.suffix == ".pt":
            if not model_name:
                raise PrunelabError("a .pt state_dict needs --model to say which architecture it is")
            return build_with(model_name, checkpoint.load(path), path), model_name, None
        raise PrunelabError(f"{path}: unknown kind of model file (expected a run directory, a compressed file or a .pt)")
    if path.exists() or path.is_symlink():
        raise PrunelabError(f"{source} is not a regular file or a run directory")
    raise PrunelabError(f"{source} does not exist")


def own_compaction(path, compressed: CompressedModel, model_name: str | None):
    """A user's file opened without --model: its compaction, from the file's own operations
    (``compress.has_own_graph``), said on stderr; else None."""
    if not has_own_graph(compressed, model_name):
        return None
    print(f"{path}: its compact graph, from the file's own operations (--model decodes it into your module)",
          file=sys.stderr)
    return compaction(compressed)


def _run_file(path: Path, config) -> torch.nn.Module:
    """The run's compressed file, checked against its stage record, decoded into the run's model."""
    from prunelab.runs.quantize_stage import FILE_NAME
    from prunelab.runs.record import verified_file

    if not (path / "quantized" / FILE_NAME).is_file():
        raise PrunelabError(f"run {path} has no finished quantized model; run it first")
    file = verified_file(path / "quantized", FILE_NAME)
    try:
        return unpack_model(CompressedModel.read(file), config.model)
    except PrunelabError as exc:
        raise PrunelabError(f"{file}: {exc}") from None


def build_with(name: str, state: dict, origin) -> torch.nn.Module:
    model = models.build(name)
    if not isinstance(state, dict):
        raise PrunelabError(f"{origin} does not hold a state_dict")
    mismatch = state_dict_mismatch(model.state_dict(), state)
    if mismatch:
        raise PrunelabError(f"{origin} does not fit model {name}: {mismatch}")
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise PrunelabError(f"{origin} does not fit model {name}: {str(exc).splitlines()[0]}") from None
    return model.eval()


def state_dict_mismatch(expected: dict, given: dict) -> str:
    """What differs between two state_dicts, in a line: missing, unexpected and reshaped entries."""
    missing = [k for k in expected if k not in given]
    extra = [k for k in given if k not in expected]
    reshaped = [f"{k} is {tuple(given[k].shape)}, the model's {tuple(expected[k].shape)}" for k in expected
                if k in given and hasattr(given[k], "shape") and tuple(given[k].shape) != tuple(expected[k].shape)]
    parts = ([f"missing {', '.join(missing[:4])}" + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")]
             if missing else [])
    parts += [f"unexpected {', '.join(extra[:4])}" + (f" and {len(extra) - 4} more" if len(extra) > 4 else "")] if extra else []
    parts += reshaped[:3]
    return "; ".join(parts)


def source_input_shape(source: str, given: str | None = None, model=None, name: str | None = None) -> tuple[int, ...]:
    """One example's shape for SOURCE: ``given`` ("3,32,32"), what a compressed file records, a run's
    dataset's; for a .pt of a user's model (``name`` MODULE:FACTORY) the features of its first
    Linear when it starts with one; else the built-in models' (1, 28, 28)."""
    from prunelab.compress import DEFAULT_INPUT_SHAPE, file_input_shape
    from prunelab.data import input_shape

    if given:
        try:
            shape = tuple(int(v) for v in given.split(","))
        except ValueError:
            shape = ()
        if not 1 <= len(shape) <= 3 or min(shape) < 1:
            raise PrunelabError(f"--input-shape needs C,H,W or F as positive integers, got '{given}'")
        return shape
    path = Path(source)
    if path.is_file() and is_compressed_file(path):
        return file_input_shape(CompressedModel.read(path))
    if path.is_dir() and (path / "config.toml").exists():
        return input_shape(load_toml(path / "config.toml").data.dataset)
    if model is not None and name and ":" in name:
        from prunelab.api.data import input_shape_of

        try:
            return input_shape_of(model)
        except PrunelabError:
            raise PrunelabError(f"{source} holds {name}, which starts with a convolution: give --input-shape C,H,W "
                                f"(nothing in a .pt says what it takes)") from None
    return DEFAULT_INPUT_SHAPE
