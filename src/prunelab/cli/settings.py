"""Command-line flags that build a RunConfig: preset or --config file, then overrides."""

from prunelab import presets
from prunelab.errors import PrunelabError
from prunelab.runs.config import RunConfig, load_toml, set_value
from prunelab.runs.validate import validate

# --model of the commands that open a model: a file never names code to import, so the user does
STAGES = ("dense", "pruned", "quantized")
STAGE_HELP = ("a run directory's model: dense, pruned, or quantized (its compressed file); default: the "
              "compressed file when the run has one, else the pruned model")
MODEL_HELP = ("architecture of a .pt file, or of a compressed file made from your own model "
              "(MODULE:FACTORY; a file's own name is used only when it is a built-in model)")

# the choices the run flags' help lists: written out, since the registries import torch and --help
# must not wait for it; tests/core/test_cli_help.py checks them against the registries
CHOICES = {"model": ("lenet5", "lenet5-1998", "lenet5-caffe", "lenet-300-100", "mcu-cnn", "mcu-cnn-s2",
                     "mcu-cnn-wide", "mcu-cnn-deep", "MODULE:FACTORY"),
           "dataset": ("mnist", "fashion-mnist", "npz:FILE"),
           "method": ("magnitude", "global", "std", "course", "svd", "svd-units", "random"),
           "backend": ("prunelab", "torch"), "schedule": ("oneshot", "iterative", "gradual")}

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
        listed = f": {', '.join(CHOICES[flag])}" if flag in CHOICES else ""
        parser.add_argument(f"--{flag.replace('_', '-')}", dest=flag, help=f"same as --set {SHORTCUTS[flag]}=...{listed}")


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
