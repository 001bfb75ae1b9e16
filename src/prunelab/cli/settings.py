"""Command-line flags that build a RunConfig: preset or --config file, then overrides."""

from prunelab import presets
from prunelab.compression.layer import FLOAT_BITS
from prunelab.errors import PrunelabError
from prunelab.runs.config import RunConfig, load_toml, set_value

# flag -> dotted setting
SHORTCUTS = {
    "model": "model", "dataset": "data.dataset", "data_dir": "data.data_dir", "seed": "seed",
    "device": "device", "epochs": "train.epochs", "sparsity": "prune.sparsity",
    "method": "prune.method", "backend": "prune.backend", "schedule": "prune.schedule",
    "rounds": "prune.rounds", "retrain_epochs": "prune.epochs",
}


def add_arguments(parser, default_preset: str | None = None) -> None:
    parser.add_argument("--config", help="settings file (TOML)")
    if default_preset:
        parser.add_argument("--preset", default=default_preset, help=f"shipped settings (default: {default_preset})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any setting, e.g. --set train.lr=0.02 (repeatable)")
    parser.add_argument("--runs-dir", help="where runs go (default: ./runs or $PRUNELAB_RUNS_DIR)")
    for flag in SHORTCUTS:
        parser.add_argument(f"--{flag.replace('_', '-')}", dest=flag, help=f"same as --set {SHORTCUTS[flag]}=...")


def build_config(args) -> RunConfig:
    if args.config:
        config = load_toml(args.config)
    elif getattr(args, "preset", None):
        config = load_toml(presets.path(args.preset))
    else:
        config = RunConfig()
    for flag, key in SHORTCUTS.items():
        if getattr(args, flag, None) is not None:
            set_value(config, key, getattr(args, flag))
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise PrunelabError(f"--set needs KEY=VALUE, got '{item}'")
        set_value(config, key.strip(), value.strip())
    validate(config)
    return config


def validate(config: RunConfig) -> None:
    from prunelab import data, models
    from prunelab.pruning.criteria import check_sparsity

    models.build(config.model)
    if config.data.dataset not in data.DATASETS and not data.is_npz(config.data.dataset):
        raise PrunelabError(f"unknown dataset '{config.data.dataset}'; choose from {', '.join(data.DATASETS)}")
    check_sparsity(config.prune.sparsity)
    if config.prune.layers:
        from prunelab.runs.config import layer_targets

        if config.prune.method != "magnitude" or config.prune.backend != "prunelab":
            raise PrunelabError("prune.layers works with method magnitude and backend prunelab")
        for value in layer_targets(config.prune.layers).values():
            check_sparsity(value)
    from prunelab import methods

    choices = {"prune.method": tuple(methods.REGISTRY), "prune.backend": ("prunelab", "torch"),
               "prune.schedule": ("oneshot", "iterative", "gradual")}
    for key, allowed in choices.items():
        value = getattr(config.prune, key.split(".")[1])
        if value not in allowed:
            raise PrunelabError(f"unknown {key} '{value}'; choose from {', '.join(allowed)}")
    if config.prune.backend == "torch" and config.prune.method not in ("magnitude", "global"):
        raise PrunelabError(f"the torch backend supports methods magnitude and global, not {config.prune.method}")
    q = config.quantize
    for name in ("conv_bits", "fc_bits"):
        if not 1 <= getattr(q, name) <= 16:
            raise PrunelabError(f"quantize.{name} must be 1..16 (bits per weight code), got {getattr(q, name)}")
    if q.float_bits not in FLOAT_BITS:
        raise PrunelabError(f"quantize.float_bits must be 16 or 32, got {q.float_bits}")
    if not 0 <= q.index_bits <= 8:
        raise PrunelabError(f"quantize.index_bits must be 1..8, or 0 to choose per layer; got {q.index_bits}")
    if q.epochs < 0 or q.retrain_epochs < 0:
        raise PrunelabError(f"quantize.epochs and quantize.retrain_epochs must be 0 or more, got {q.epochs} and "
                            f"{q.retrain_epochs}")
    if q.retrain_lr <= 0:
        raise PrunelabError(f"quantize.retrain_lr must be positive, got {q.retrain_lr}")
    if not 0.0 <= q.retrain_distill <= 1.0:
        raise PrunelabError(f"quantize.retrain_distill is the distillation loss's weight, between 0 and 1; "
                            f"got {q.retrain_distill}")
    if not 0.0 <= config.prune.distill <= 1.0:
        raise PrunelabError(f"prune.distill is the distillation loss's weight, between 0 and 1; got {config.prune.distill}")
    if config.prune.temperature <= 0:
        raise PrunelabError(f"prune.temperature must be positive, got {config.prune.temperature}")
    if config.prune.kl_scale <= 0:
        raise PrunelabError(f"prune.kl_scale must be positive, got {config.prune.kl_scale}")
    if config.prune.distill > 0 and config.prune.method == "svd":
        raise PrunelabError("prune.distill works with the magnitude methods, not svd")
    for key in ("train.epochs", "train.batch_size", "prune.epochs", "prune.rounds"):
        group, name = key.split(".")
        if getattr(getattr(config, group), name) < (1 if name != "epochs" else 0):
            raise PrunelabError(f"{key} must be positive")
