"""Every setting checked in one place, when a run or a sweep starts and before anything trains.

The command line, `pipeline.execute` and sweep files all call `validate`, so a library user gets
the same one-line refusal as the command line: the setting's name, what is allowed, and the value
(shortened, so a huge one is not echoed whole).
"""

import dataclasses
import math

from prunelab.errors import PrunelabError
from prunelab.runs.config import shown

MAX_ROUNDS = 1000  # prune/retrain rounds; each is a list entry and at least a mask computation
MAX_EPOCHS = 100_000
MAX_SEED = 2**63 - 1  # torch.manual_seed takes at most 64 bits
CHOICES = {
    "prune.backend": ("prunelab", "torch"),
    "prune.schedule": ("oneshot", "iterative", "gradual"),
    "prune.lr_schedule": ("constant", "cosine"),
    "train.lr_schedule": ("constant", "cosine"),
    "quantize.init": ("linear", "density", "random"),
}
POSITIVE = ("train.lr", "prune.lr", "quantize.lr", "quantize.retrain_lr", "prune.temperature", "prune.kl_scale",
            "prune.unit_kl_scale", "prune.quality")
NOT_NEGATIVE = ("train.shift", "train.weight_decay", "prune.weight_decay", "prune.kl_warmup", "data.train_limit",
                "data.test_limit", "quantize.epochs", "quantize.retrain_epochs", "train.epochs", "prune.epochs")
MOMENTUM = ("train.momentum", "prune.momentum", "quantize.momentum")  # SGD diverges at 1 and beyond
WEIGHTS = ("prune.distill", "quantize.retrain_distill")  # a loss's share, 0..1


def get(config, key: str):
    value = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def leaves(config, prefix: str = ""):
    """(dotted name, value) of every setting."""
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if dataclasses.is_dataclass(value):
            yield from leaves(value, f"{prefix}{item.name}.")
        else:
            yield f"{prefix}{item.name}", value


def validate(config) -> None:
    """Refuse, with one line, any setting the run could not use as asked."""
    for key, value in leaves(config):
        if isinstance(value, float) and not math.isfinite(value):
            raise PrunelabError(f"setting '{key}' must be a finite number, got {shown(value)}")
    check_ranges(config)
    check_choices(config)
    check_device(config.device)
    check_combinations(config)


def check_ranges(config) -> None:
    from prunelab.compression.layer import FLOAT_BITS
    from prunelab.pruning.criteria import check_sparsity

    for key in POSITIVE:
        if get(config, key) <= 0:
            raise PrunelabError(f"{key} must be positive, got {shown(get(config, key))}")
    for key in NOT_NEGATIVE:
        if get(config, key) < 0:
            raise PrunelabError(f"{key} must be 0 or more, got {shown(get(config, key))}")
    for key in MOMENTUM:
        if not 0 <= get(config, key) < 1:
            raise PrunelabError(f"{key} must be in [0, 1), got {shown(get(config, key))}")
    for key in WEIGHTS:
        if not 0.0 <= get(config, key) <= 1.0:
            raise PrunelabError(f"{key} is the distillation loss's weight, between 0 and 1; got {shown(get(config, key))}")
    for key in ("train.epochs", "prune.epochs", "quantize.epochs", "quantize.retrain_epochs"):
        if get(config, key) > MAX_EPOCHS:
            raise PrunelabError(f"{key} must be at most {MAX_EPOCHS:,}, got {shown(get(config, key))}")
    if not 1 <= config.prune.rounds <= MAX_ROUNDS:
        raise PrunelabError(f"prune.rounds must be 1..{MAX_ROUNDS}, got {shown(config.prune.rounds)}")
    if config.train.batch_size < 1:
        raise PrunelabError(f"train.batch_size must be positive, got {shown(config.train.batch_size)}")
    if not 0 <= config.train.rotate <= 180:
        raise PrunelabError(f"train.rotate is the largest rotation in degrees, 0..180; got {shown(config.train.rotate)}")
    if not 0 <= config.train.scale < 1:
        raise PrunelabError(f"train.scale resizes images by 1-scale..1+scale, so it must be in [0, 1); got {shown(config.train.scale)}")
    if not 0 <= config.seed <= MAX_SEED:
        raise PrunelabError(f"seed must be 0..2**63-1, got {shown(config.seed)}")
    check_sparsity(config.prune.sparsity)
    q = config.quantize
    for name in ("conv_bits", "fc_bits"):
        if not 1 <= getattr(q, name) <= 16:
            raise PrunelabError(f"quantize.{name} must be 1..16 (bits per weight code), got {shown(getattr(q, name))}")
    if q.float_bits not in FLOAT_BITS:
        raise PrunelabError(f"quantize.float_bits must be 16 or 32, got {shown(q.float_bits)}")
    if not 0 <= q.index_bits <= 8:
        raise PrunelabError(f"quantize.index_bits must be 1..8, or 0 to choose per layer; got {shown(q.index_bits)}")


def check_choices(config) -> None:
    from prunelab import data, methods, models

    models.build(config.model)
    if config.data.dataset not in data.DATASETS and not data.is_npz(config.data.dataset):
        raise PrunelabError(f"unknown dataset {shown(config.data.dataset)}; choose from {', '.join(data.DATASETS)} "
                            f"or npz:FILE.npz")
    for key, allowed in {"prune.method": tuple(methods.REGISTRY), **CHOICES}.items():
        if get(config, key) not in allowed:
            raise PrunelabError(f"unknown {key} {shown(get(config, key))}; choose from {', '.join(allowed)}")


def check_layer_kl(config) -> None:
    from prunelab import methods, models
    from prunelab.pruning.mask import check_layer_name, prunable_names
    from prunelab.runs.config import layer_kl_factors

    if methods.get(config.prune.method).trainer != "variational":
        raise PrunelabError(f"prune.layer_kl weighs the KL of methods svd and svd-units, not {config.prune.method}")
    names = prunable_names(models.build(config.model))
    for name, factor in layer_kl_factors(config.prune.layer_kl).items():
        check_layer_name(name, names, "prune.layer_kl")
        if not 0 < factor < float("inf"):
            raise PrunelabError(f"prune.layer_kl: {name.removesuffix('.weight')} needs a positive factor, got {factor}")


def check_device(name: str) -> None:
    import torch

    kind, _, index = name.partition(":")
    if kind not in ("auto", "cpu", "cuda") or (index and (kind != "cuda" or not index.isdigit())):
        raise PrunelabError(f"unknown device {shown(name)}; choose auto, cpu, cuda or cuda:N")
    if kind == "cuda" and not torch.cuda.is_available():
        raise PrunelabError(f"device {name!r} asked for, but torch sees no CUDA device here; use auto or cpu")
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise PrunelabError(f"device {name!r}: there are only {torch.cuda.device_count()} CUDA devices")


def check_combinations(config) -> None:
    from prunelab.pruning.criteria import check_sparsity
    from prunelab.runs.config import layer_targets

    p = config.prune
    if p.layers:
        if p.method != "magnitude" or p.backend != "prunelab":
            raise PrunelabError("prune.layers works with method magnitude and backend prunelab")
        for value in layer_targets(p.layers).values():
            check_sparsity(value)
    if p.backend == "torch" and p.method not in ("magnitude", "global"):
        raise PrunelabError(f"the torch backend supports methods magnitude and global, not {p.method}")
    if p.unit_kl_scale != 1.0 and p.method != "svd-units":
        raise PrunelabError(f"prune.unit_kl_scale weighs the units' KL of method svd-units, not {p.method}")
    if p.layer_kl:
        check_layer_kl(config)
    if config.quantize.layers:
        from prunelab import models
        from prunelab.pruning.mask import prunable_names
        from prunelab.runs.config import layer_code_bits
        from prunelab.training.weight_sharing import check_code_widths

        names = prunable_names(models.build(config.model))
        check_code_widths(layer_code_bits(config.quantize.layers), names, "quantize.layers")
