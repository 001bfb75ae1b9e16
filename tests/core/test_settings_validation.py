"""Every setting is checked by the library when a run starts, before anything is written or trained:
one line naming the setting and what is allowed, a huge value shortened, a misspelt name corrected."""

import pytest

from prunelab.errors import PrunelabError
from prunelab.runs import pipeline
from prunelab.runs.config import RunConfig, set_value
from prunelab.sweeps.spec import parse_sweep

REFUSED = [
    ("train.lr", -0.01, "train.lr must be positive"),
    ("train.lr", float("inf"), "'train.lr' must be a finite number"),
    ("prune.lr", 0.0, "prune.lr must be positive"),
    ("quantize.lr", -1.0, "quantize.lr must be positive"),
    ("train.momentum", -0.5, r"train.momentum must be in \[0, 1\)"),
    ("prune.momentum", 1.5, r"prune.momentum must be in \[0, 1\)"),
    ("train.weight_decay", -1e-4, "train.weight_decay must be 0 or more"),
    ("prune.weight_decay", float("nan"), "'prune.weight_decay' must be a finite number"),
    ("device", "tpu", "unknown device 'tpu'; choose auto, cpu, cuda or cuda:N"),
    ("device", "cuda:x", "unknown device"),
    ("seed", 10**20, r"seed must be 0..2\*\*63-1, got 100000000000000000000$"),
    ("seed", -1, r"seed must be 0..2\*\*63-1"),
    ("prune.quality", float("nan"), "'prune.quality' must be a finite number"),
    ("prune.quality", 0.0, "prune.quality must be positive"),
    ("prune.rounds", 10**9, "prune.rounds must be 1..1000, got 1000000000"),
    ("data.train_limit", -9990, "data.train_limit must be 0 or more"),
    ("data.test_limit", -9990, "data.test_limit must be 0 or more"),
    ("prune.method", "magnitdue", "unknown prune.method 'magnitdue'; choose from magnitude, global, std"),
    ("prune.backend", "pytorch", "unknown prune.backend 'pytorch'; choose from prunelab, torch"),
    ("quantize.init", "kmeans++", "unknown quantize.init 'kmeans\\+\\+'; choose from linear, density, random"),
    ("train.lr_schedule", "step", "unknown train.lr_schedule 'step'; choose from constant, cosine"),
    ("prune.lr_schedule", "linear", "unknown prune.lr_schedule 'linear'"),
    ("prune.method", "x" * 10_000, r"unknown prune.method 'xxxxxxxxxxxxxxxxxxx\.\.\. \(10002 characters\)"),
    ("train.epochs", 10**12, "train.epochs must be at most 100,000"),
    ("prune.kl_warmup", -1, "prune.kl_warmup must be 0 or more"),
    ("train.batch_size", 0, "train.batch_size must be positive"),
    ("quantize.layers", "fc9=4", "quantize.layers names layer 'fc9', which is not one of the model's: conv1, conv2, fc1"),
    ("quantize.layers", "fc1=0", "quantize.layers: fc1 needs a code width of 1..16 bits, got 0"),
    ("quantize.layers", "conv1=6,fc1=17", "quantize.layers: fc1 needs a code width of 1..16 bits, got 17"),
    ("quantize.layers", "fc1=4.5", "quantize.layers needs NAME=BITS items separated by commas, got 'fc1=4.5'"),
    ("quantize.layers", "fc1", "quantize.layers needs NAME=BITS items separated by commas, got 'fc1'"),
    ("quantize.layers", "=4", "quantize.layers needs NAME=BITS items"),
]


@pytest.mark.parametrize("key, value, message", REFUSED, ids=[f"{k}={str(v)[:12]}" for k, v, _ in REFUSED])
def test_the_library_refuses_a_bad_setting_before_writing_anything(tmp_path, key, value, message):
    config = RunConfig()
    set_value(config, key, value)
    with pytest.raises(PrunelabError, match=message) as caught:
        pipeline.execute(config, tmp_path / "runs", log=lambda m: None)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200
    assert not (tmp_path / "runs").exists()


def test_cuda_where_there_is_none_is_refused(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = RunConfig()
    set_value(config, "device", "cuda")
    with pytest.raises(PrunelabError, match="device 'cuda' asked for, but torch sees no CUDA device"):
        pipeline.execute(config, tmp_path / "runs", log=lambda m: None)


def test_a_sweep_refuses_a_bad_setting_of_any_run(tmp_path):
    with pytest.raises(PrunelabError, match="train.lr must be positive"):
        parse_sweep({"grid": {"train.lr": [0.01, -0.01]}}, tmp_path / "s.toml", {})


@pytest.mark.parametrize("key, nearest", [("prune.sparsty", "prune.sparsity"), ("train.gradient_clip", None),
                                          ("quantize.fcbits", "quantize.fc_bits"), ("trian.lr", "train.lr")])
def test_a_misspelt_setting_name_gets_the_nearest_real_one(key, nearest):
    hint = f"; did you mean '{nearest}'\\?$" if nearest else "$"
    with pytest.raises(PrunelabError, match=f"unknown setting '{key}'{hint}"):
        set_value(RunConfig(), key, 1)


def test_a_huge_value_of_the_wrong_type_is_not_echoed_whole():
    with pytest.raises(PrunelabError) as caught:
        set_value(RunConfig(), "train.epochs", "9" * 100_000 + "z")
    assert len(str(caught.value)) < 120
