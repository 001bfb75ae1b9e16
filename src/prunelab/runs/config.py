"""One source of truth for settings: dataclasses with defaults, a TOML file, command-line overrides.

Defaults are the course project's (batch 128, lr 0.01, SGD momentum 0.5).
"""

import dataclasses
import difflib
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from prunelab.errors import PrunelabError


@dataclass
class DataConfig:
    dataset: str = "mnist"
    data_dir: str = ""  # a folder with the official IDX files; "" = cache, mirrors, packages
    train_limit: int = 0  # use only the first N training images (0 = all); for tests
    test_limit: int = 0
    validation: bool = False  # evaluate on the last sixth of the training images (MNIST's last 10,000), not the test set

    @property
    def evaluated_on(self) -> str:
        """The split the run's figures are measured on, and the name they are filed under."""
        return "validation" if self.validation else "test"


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.5
    weight_decay: float = 0.0
    lr_schedule: str = "constant"  # constant | cosine
    shift: int = 0  # augmentation in every stage's training: each image moved by up to this many pixels (0: off)
    rotate: float = 0.0  # augmentation: each image rotated by up to this many degrees (0: off; bilinear resampling)
    scale: float = 0.0  # augmentation: each image resized by a factor in 1-scale..1+scale (0: off)


@dataclass
class PruneConfig:
    method: str = "magnitude"  # magnitude (per layer) | global | std (Han 2015) | course | svd | svd-units | random
    backend: str = "prunelab"  # prunelab | torch (torch.nn.utils.prune)
    schedule: str = "iterative"  # oneshot | iterative | gradual
    sparsity: float = 0.9
    rounds: int = 3  # iterative: number of prune/retrain rounds
    quality: float = 1.0  # std method: threshold = quality x std
    kl_warmup: int = 5  # svd: epochs over which the KL term's weight rises from 0 to kl_scale
    kl_scale: float = 1.0  # svd: the KL term's final weight (1: the variational bound; less keeps more weights)
    unit_kl_scale: float = 1.0  # svd-units: the units' KL weight beside the weights' (1: the bound; more: fewer units)
    layer_kl: str = ""  # svd: per-layer factors of the weights' KL, "conv1=8" (others 1): more prunes that layer harder
    distill: float = 0.0  # weight of distillation from the dense model while retraining (0: off)
    temperature: float = 4.0  # distillation temperature
    layers: str = ""  # magnitude method: per-layer final sparsity, "conv1=0.6,fc1=0.97" (from `prunelab sensitivity`)
    epochs: int = 4  # retraining epochs per round (gradual: in total)
    lr: float = 0.01
    momentum: float = 0.5
    weight_decay: float = 0.0
    lr_schedule: str = "constant"


@dataclass
class QuantizeConfig:
    conv_bits: int = 8  # Han et al. 2016 for LeNet: 8-bit codes for convolutions
    fc_bits: int = 5  # and 5-bit codes for fully connected layers
    layers: str = ""  # per-layer code widths over those two, "conv1=6,fc1=4" (layers not named keep them)
    init: str = "linear"  # linear | density | random (k-means initialisation)
    index_bits: int = 5  # width of the relative position differences; 0: the smallest per layer
    retrain_epochs: int = 0  # masked fine-tuning of the pruned model before clustering (0: none)
    retrain_lr: float = 0.001  # its SGD learning rate (momentum 0.9, cosine to zero)
    retrain_distill: float = 0.0  # its distillation weight from the dense model (temperature: prune.temperature)
    epochs: int = 2  # fine-tuning of the centroids
    float_bits: int = 32  # centroids and biases in the file: 32 (the paper's) or 16 (rounded after fine-tuning)
    lr: float = 0.0005
    momentum: float = 0.9


@dataclass
class RunConfig:
    model: str = "lenet5"
    seed: int = 0
    device: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    prune: PruneConfig = field(default_factory=PruneConfig)
    quantize: QuantizeConfig = field(default_factory=QuantizeConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(values: dict) -> "RunConfig":
        config = RunConfig()
        for key, value in values.items():
            set_value(config, key, value)
        return config


def setting_names(config=None, prefix: str = "") -> list[str]:
    """Every dotted setting name ("train.lr", ...)."""
    config = config if config is not None else RunConfig()
    names = []
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if dataclasses.is_dataclass(value):
            names += setting_names(value, f"{prefix}{item.name}.")
        else:
            names.append(f"{prefix}{item.name}")
    return names


def unknown_setting(key: str) -> PrunelabError:
    """'unknown setting', with the nearest real name when there is one close enough."""
    nearest = difflib.get_close_matches(key, setting_names(), n=1, cutoff=0.6)
    hint = f"; did you mean '{nearest[0]}'?" if nearest else ""
    shown = key if len(key) <= 60 else key[:56] + "..."
    return PrunelabError(f"unknown setting '{shown}'{hint}")


def set_value(config, key: str, value) -> None:
    """Set `key` (dotted, e.g. 'train.epochs', or a whole table as a dict) with type checking."""
    if isinstance(value, dict):
        for sub, item in value.items():
            set_value(config, f"{key}.{sub}", item)
        return
    *path, last = key.split(".")
    target = config
    for part in path:
        if not dataclasses.is_dataclass(getattr(target, part, None)):
            raise unknown_setting(key)
        target = getattr(target, part)
    fields = {f.name: f for f in dataclasses.fields(target)}
    if last not in fields or dataclasses.is_dataclass(getattr(target, last)):
        raise unknown_setting(key)
    setattr(target, last, coerce(key, value, type(getattr(target, last))))


def shown(value) -> str:
    """A value for an error message, shortened: a huge one is not echoed whole."""
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:20]}... ({len(text)} characters)"


def coerce(key, value, kind):
    if isinstance(value, str) and kind is not str:
        text = value.strip().lower()
        try:
            if kind is bool:
                if text not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return text in ("true", "1", "yes")
            return kind(float(text)) if kind is int and float(text).is_integer() else kind(text)
        except ValueError:
            raise PrunelabError(f"setting '{key}' needs a {kind.__name__}, got {shown(value)}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise PrunelabError(f"setting '{key}' needs a {kind.__name__}, got {shown(value)}")
    return value


MAX_TOML_BYTES = 1 << 20  # settings files are a few hundred bytes; never read more than this


def read_toml(path, what: str = "config file") -> dict:
    """A TOML file's tables, or a one-line error naming the file. Read through the bounded,
    regular-file-only reader: a FIFO would hang and /dev/zero would never end."""
    from prunelab.foundations.files import read_regular

    if not Path(path).exists() and not Path(path).is_symlink():
        raise PrunelabError(f"{what} {path} does not exist")
    data = read_regular(path, MAX_TOML_BYTES, what)
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise PrunelabError(f"{what} {path} is not text (UTF-8)") from None
    except RecursionError:
        raise PrunelabError(f"{what} {path} nests too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        raise PrunelabError(f"{what} {path} is not valid TOML: {exc}") from None


def load_toml(path) -> RunConfig:
    return RunConfig.from_dict(read_toml(path))


def flatten(values: dict, separator: str = ".", prefix: str = "") -> dict:
    """Nested tables -> {"prune.sparsity": leaf} (or another separator)."""
    flat = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, separator, f"{name}{separator}"))
        else:
            flat[name] = value
    return flat


def to_toml(config: RunConfig) -> str:
    """Write the settings back as TOML (flat scalars first, then one table per group)."""
    values = config.to_dict()
    lines = [f"{k} = {json.dumps(v)}" for k, v in values.items() if not isinstance(v, dict)]
    for table, entries in values.items():
        if isinstance(entries, dict):
            lines += ["", f"[{table}]"] + [f"{k} = {json.dumps(v)}" for k, v in entries.items()]
    return "\n".join(lines) + "\n"


def settings_hash(values: dict) -> str:
    """A short, stable name for a set of settings (sorted keys, JSON)."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def non_default(values: dict, defaults: dict) -> dict:
    """Only the settings that differ from the defaults (nested tables kept where they differ).

    Directories are named by a hash of these, as open_lth does, so adding a new setting with a
    default later leaves every existing run's name, and so its resumability, unchanged.
    """
    different = {}
    for key, value in values.items():
        if isinstance(value, dict):
            inner = non_default(value, defaults.get(key, {}))
            if inner:
                different[key] = inner
        elif key not in defaults or defaults[key] != value:
            different[key] = value
    return different


def stage_settings(config: RunConfig, stage: str, data_content: str = "") -> dict:
    """Only what a stage's output depends on, so runs that differ later share the stage. The data
    is named by its content, not its folder: `data_content` is "" for the dataset as published and
    a checksum for other data (pipeline.data_content), wherever it was read from."""
    values = config.to_dict()
    data = {k: v for k, v in values["data"].items() if k != "data_dir"}
    if data_content:
        data["content"] = data_content
        if data["dataset"].startswith("npz:"):  # a user's file: its content names it, not its path
            data["dataset"] = "npz"
    dense = {"model": values["model"], "seed": values["seed"], "data": data, "train": values["train"]}
    if stage == "dense":
        return dense
    if stage == "pruned":
        return {**dense, "prune": values["prune"]}
    if stage == "quantized":
        return {**dense, "prune": values["prune"], "quantize": values["quantize"]}
    raise ValueError(stage)


def layer_targets(text: str) -> dict:
    """Parse "conv1=0.6,fc1=0.97" into {"conv1.weight": 0.6, "fc1.weight": 0.97}."""
    return layer_values(text, "prune.layers", "SPARSITY", float)


def layer_code_bits(text: str) -> dict:
    """Parse "conv1=6,fc1=4" into {"conv1.weight": 6, "fc1.weight": 4}."""
    return layer_values(text, "quantize.layers", "BITS", int)


def layer_kl_factors(text: str) -> dict:
    """Parse "conv1=8,conv2=2" into {"conv1.weight": 8.0, "conv2.weight": 2.0}."""
    return layer_values(text, "prune.layer_kl", "FACTOR", float)


def layer_values(text: str, setting: str, what: str, kind) -> dict:
    """NAME=VALUE items separated by commas -> {"NAME.weight": kind(VALUE)}; one line if malformed."""
    values = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            values[f"{name.strip()}.weight"] = kind(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise PrunelabError(f"{setting} needs NAME={what} items separated by commas, got {shown(item)}")
    return values
