"""Sparse VD with a noise per unit: mu folds into the plain model, removed units are exact zeros that
compaction drops, the mask covers weights only, the units' KL, resuming, the registry and settings."""

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from prunelab import methods, models
from prunelab.deploy import graph as g
from prunelab.deploy.compact import compact
from prunelab.deploy.module import to_module
from prunelab.errors import PrunelabError
from prunelab.pruning import variational as vd
from prunelab.pruning import variational_units as vu
from prunelab.pruning.mask import Mask
from prunelab.runs import pipeline, svd_stage
from prunelab.runs.validate import validate
from .test_pipeline import interrupt_after, metrics, tiny_config, without_time


def unit_layers(model):
    return {name: m for name, m in model.named_modules() if isinstance(m, vu.UnitNoise)}


def plain_of(name, variational):
    plain = models.build(name).eval()
    plain.load_state_dict(vd.plain_state_dict(variational), strict=True)
    return plain


def test_every_layer_but_the_classifier_gets_a_noise_per_output_unit():
    model = vu.make_variational_units(models.build("lenet5-caffe"))
    assert {n: m.unit_mu.shape[0] for n, m in unit_layers(model).items()} == {"conv1": 20, "conv2": 50, "fc1": 500}
    assert type(model.fc2) is vd.VariationalLinear


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_eval_output_is_mu_times_the_layers_output_with_its_weight_mask(kind):
    torch.manual_seed(0)
    original = torch.nn.Linear(6, 4) if kind == "linear" else torch.nn.Conv2d(2, 4, 3)
    layer = vu.unit_noise(original, last=False).eval()
    with torch.no_grad():
        layer.unit_mu.copy_(torch.tensor([2.0, -0.5, 1.0, 0.25]))  # unit 1 flips sign
        layer.log_sigma2.copy_(torch.where(torch.rand_like(layer.log_sigma2) < 0.3, 5.0, -20.0))
    x = torch.rand(3, 6) if kind == "linear" else torch.rand(3, 2, 7, 7)
    weight = original.weight * layer.keep()
    out = F.linear(x, weight, original.bias) if kind == "linear" else F.conv2d(x, weight, original.bias)
    mu = layer.unit_mu if kind == "linear" else layer.unit_mu.view(-1, 1, 1)
    torch.testing.assert_close(layer(x), mu * out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(models.REGISTRY))
def test_eval_output_equals_the_folded_plain_model_with_negative_mu(name):
    torch.manual_seed(0)
    variational = vu.make_variational_units(models.build(name)).eval()
    with torch.no_grad():
        for m in variational.modules():
            if isinstance(m, vd.VariationalLayer):
                m.log_sigma2.copy_(torch.where(torch.rand_like(m.log_sigma2) < 0.3, 5.0, -20.0))
            if isinstance(m, vu.UnitNoise):
                m.unit_mu.copy_(torch.empty_like(m.unit_mu).uniform_(-1.5, 1.5))
    assert any(bool((m.unit_mu < 0).any()) for m in unit_layers(variational).values())
    x = torch.rand(8, 1, 28, 28)
    torch.testing.assert_close(plain_of(name, variational)(x), variational(x), rtol=1e-6, atol=1e-6)


def kill(layer, units):
    with torch.no_grad():
        layer.unit_log_sigma2[units] = 5.0  # log alpha = 5 - log mu^2 > 3


def test_a_removed_unit_is_all_zero_weights_and_bias_and_compaction_drops_it():
    torch.manual_seed(0)
    variational = vu.make_variational_units(models.build("lenet5-caffe")).eval()
    kill(variational.conv2, [3, 7, 11])
    kill(variational.fc1, list(range(0, 500, 2)))
    with torch.no_grad():
        variational.fc1.unit_mu[1] = -0.7  # a live unit with a negative mean
    plain = plain_of("lenet5-caffe", variational)
    for layer, dead in (("conv2", [3, 7, 11]), ("fc1", list(range(0, 500, 2)))):
        module = getattr(plain, layer)
        assert torch.all(module.weight[dead] == 0) and torch.all(module.bias[dead] == 0)
        assert bool(module.bias.abs().sum() > 0)
    x = torch.rand(16, 1, 28, 28)
    result = compact(g.trace(plain, (1, 28, 28)))
    assert result.kept["conv2"].tolist() == [u for u in range(50) if u not in (3, 7, 11)]
    assert result.kept["fc1"].tolist() == list(range(1, 500, 2))
    assert result.graph.architecture() == "20-47-250-10"
    with torch.no_grad():
        torch.testing.assert_close(to_module(result.graph).eval()(x), variational(x), rtol=1e-4, atol=1e-5)


def test_the_mask_covers_the_plain_models_weights_only_and_whole_rows_of_removed_units():
    torch.manual_seed(0)
    variational = vu.make_variational_units(models.build("lenet5")).eval()
    with torch.no_grad():
        variational.fc1.log_sigma2.copy_(torch.where(torch.rand_like(variational.fc1.log_sigma2) < 0.5, 5.0, -20.0))
        variational.fc3.log_sigma2.fill_(-20.0)
    kill(variational.fc1, [0, 5])
    kill(variational.conv1, [2])
    mask = Mask(vd.masks_of(variational))
    plain = models.build("lenet5")
    expected = Mask.ones_like(plain)
    assert set(mask) == set(expected) and all(mask[n].shape == expected[n].shape for n in mask)
    assert not mask["fc1.weight"][[0, 5]].any() and not mask["conv1.weight"][2].any()
    live = [u for u in range(120) if u not in (0, 5)]
    torch.testing.assert_close(mask["fc1.weight"][live], (variational.fc1.log_alpha() < 3)[live])
    assert mask["fc3.weight"].all()  # the classifier has no unit noise: all of its outputs stay
    assert vd.live_units(variational) == {"conv1": 5, "conv2": 16, "fc1": 118, "fc2": 84, "fc3": 10}


def test_the_units_kl_is_finite_falls_as_alpha_grows_and_adds_to_the_weights():
    model = vu.make_variational_units(torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Linear(5, 2)))
    layer = model[0]

    def units_kl(log_alpha):
        with torch.no_grad():
            layer.unit_mu.fill_(-0.5)  # alpha is sigma^2 / mu^2: the sign of mu does not matter
            layer.unit_log_sigma2.fill_(log_alpha + math.log(0.25))
        return float(layer.unit_kl().detach())

    values = [units_kl(a) for a in (-10.0, -8.0, -4.0, 0.0, 3.0, 8.0, 10.0)]
    assert all(math.isfinite(v) for v in values) and all(a > b for a, b in zip(values, values[1:]))
    # eq. 14 at log alpha = 0, by hand: k1 (1 - sigmoid(k2)) + softplus(0) / 2 per unit
    assert values[3] == pytest.approx(5 * (vd.K1 * (1 - 1 / (1 + math.exp(-vd.K2))) + 0.5 * math.log(2)), rel=1e-5)
    assert 0 < values[-1] < 0.05  # pure noise: the log-uniform prior is (nearly) matched
    assert units_kl(-30.0) == values[0]  # log alpha is clamped to [-10, 10], as for the weights
    units = units_kl(0.0)
    with torch.no_grad():
        weights = float(layer.kl() + model[1].kl())
        assert float(vd.total_kl(model)) == pytest.approx(weights + units, rel=1e-6)
        assert float(vd.total_kl(model, unit_scale=4.0)) == pytest.approx(weights + 4 * units, rel=1e-6)
        assert float(model[1].unit_kl()) == 0.0  # the classifier: no unit noise
        layer.unit_mu.zero_()  # a unit switched off entirely: still finite
        assert torch.isfinite(vd.total_kl(model))


def test_training_noise_is_one_draw_per_example_and_filter_shared_over_positions():
    torch.manual_seed(0)
    layer = vu.unit_noise(torch.nn.Conv2d(1, 3, 3), last=False).train()
    with torch.no_grad():
        layer.log_sigma2.fill_(-40.0)  # no weight noise: what varies is z alone (but for a 1e-4 jitter,
        layer.original.weight.mul_(100.0)  # small beside outputs this large)
        layer.original.bias.mul_(100.0)
        layer.unit_log_sigma2.fill_(-2.0)
    x = torch.rand(4, 1, 6, 6)
    with torch.no_grad():
        ratio = layer(x) / F.conv2d(x, layer.original.weight, layer.original.bias)  # z, (N, C, H, W)
    torch.testing.assert_close(ratio, ratio[:, :, :1, :1].expand_as(ratio), rtol=1e-3, atol=1e-3)
    assert float(ratio[:, :, 0, 0].std()) > 0.1  # and it does differ between examples and filters


def test_the_method_is_registered_and_its_settings_are_checked():
    method = methods.get("svd-units")
    assert method.trainer == "variational" and method.criterion is None and method.seeded_noise
    validate(tiny_config(**{"prune.method": "svd-units", "prune.kl_scale": 0.5, "prune.kl_warmup": 0,
                            "prune.unit_kl_scale": 20.0}))
    for overrides, message in (({"prune.backend": "torch"}, "torch backend supports methods magnitude and global"),
                               ({"prune.kl_scale": 0.0}, "prune.kl_scale must be positive"),
                               ({"prune.unit_kl_scale": 0.0}, "prune.unit_kl_scale must be positive"),
                               ({"prune.unit_kl_scale": -2.0}, "prune.unit_kl_scale must be positive"),
                               ({"prune.unit_kl_scale": float("nan")}, "'prune.unit_kl_scale' must be a finite number"),
                               ({"prune.method": "svd", "prune.unit_kl_scale": 5.0},
                                "prune.unit_kl_scale weighs the units' KL of method svd-units, not svd")):
        with pytest.raises(PrunelabError, match=message):
            validate(tiny_config(**{"prune.method": "svd-units", **overrides}))


def test_sparse_vd_distils_from_the_dense_model_when_asked(mnist, tmp_path):
    """prune.distill replaces part of the data term by distillation from the dense model: the same
    dense stage, another pruned model, and still a mask of whole zeros."""
    base = {"prune.method": "svd-units", "prune.epochs": 1, "prune.lr": 0.001}
    plain = pipeline.execute(tiny_config(**base), tmp_path, log=lambda m: None, stop="pruned")
    taught = pipeline.execute(tiny_config(**base, **{"prune.distill": 0.7}), tmp_path, log=lambda m: None,
                              stop="pruned")
    assert Path(plain["run_dir"]) != Path(taught["run_dir"])
    a, b = (torch.load(Path(s["run_dir"]) / "pruned" / "model.pt", weights_only=True) for s in (plain, taught))
    assert not torch.equal(a["conv1.weight"], b["conv1.weight"])
    mask = Mask.load(Path(taught["run_dir"]) / "pruned" / "mask.pt")
    assert all(torch.all(b[name][~kept] == 0) for name, kept in mask.items())


def test_layer_kl_multiplies_the_named_layers_weight_kl_and_is_checked():
    torch.manual_seed(0)
    model = vd.make_variational(models.build("lenet5"))
    layers = dict((name, m) for name, m in model.named_modules() if isinstance(m, vd.VariationalLayer))
    with torch.no_grad():
        plain, scaled = vd.total_kl(model), vd.total_kl(model, layer_factors={"conv1.weight": 8.0, "fc2.weight": 0.5})
        expected = plain + 7.0 * layers["conv1"].kl() - 0.5 * layers["fc2"].kl()
    torch.testing.assert_close(scaled, expected)
    validate(tiny_config(**{"model": "lenet5", "prune.method": "svd", "prune.layer_kl": "conv1=8, fc2=0.5"}))
    for overrides, message in (({"prune.method": "magnitude"}, "prune.layer_kl weighs the KL of methods svd and svd-units"),
                               ({"prune.layer_kl": "conv9=2"}, "names layer 'conv9', which is not one of the model's: conv1"),
                               ({"prune.layer_kl": "conv1=0"}, "conv1 needs a positive factor, got 0.0"),
                               ({"prune.layer_kl": "conv1=inf"}, "conv1 needs a positive factor, got inf"),
                               ({"prune.layer_kl": "conv1"}, "prune.layer_kl needs NAME=FACTOR items")):
        with pytest.raises(PrunelabError, match=message):
            validate(tiny_config(**{"model": "lenet5", "prune.method": "svd", "prune.layer_kl": "conv1=8", **overrides}))


def test_a_default_unit_kl_weight_leaves_every_run_directory_name_as_it_was(tmp_path):
    from prunelab.runs.config import RunConfig, set_value, settings_hash
    from prunelab.runs.pipeline import stage_dir

    config = RunConfig()
    set_value(config, "prune.method", "svd")
    assert stage_dir(config, tmp_path, "pruned").name == f"pruned-{settings_hash({'prune': {'method': 'svd'}})}"


def test_the_python_api_prunes_with_it():
    import prunelab

    torch.manual_seed(0)
    model = models.build("lenet-300-100")
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    mask = prunelab.prune(model, (x, y), method="svd-units", epochs=2, lr=0.01)
    assert all(torch.all(p[~mask[n]] == 0) for n, p in model.named_parameters() if n in mask)


UNITS = {"model": "lenet5-caffe", "prune.method": "svd-units", "prune.epochs": 2, "prune.lr": 0.01,
         "prune.kl_warmup": 1, "quantize.epochs": 1}


def test_an_interrupted_run_resumes_to_the_same_model_and_mask(mnist, tmp_path, monkeypatch):
    config = tiny_config(**UNITS)
    reference = pipeline.execute(config, tmp_path / "ref", log=lambda m: None, stop="pruned")
    interrupt_after(monkeypatch, svd_stage, 1,
                    lambda: pipeline.execute(config, tmp_path / "cut", log=lambda m: None, stop="pruned"))
    torch.manual_seed(12345)  # the global generator's state is not what it was: the noise must not care
    messages = []
    resumed = pipeline.execute(config, tmp_path / "cut", log=messages.append, stop="pruned")
    assert any("pruned (svd-units): resuming after epoch 1 of 2" in m for m in messages)
    runs = [Path(r["run_dir"]) for r in (reference, resumed)]
    assert without_time(metrics(runs[0], "pruned")) == without_time(metrics(runs[1], "pruned"))
    for name in ("model.pt", "mask.pt"):
        first, second = (torch.load(run / "pruned" / name, weights_only=True) for run in runs)
        assert all(torch.equal(first[k], second[k]) for k in first) and set(first) == set(second)


def test_a_tiny_run_on_the_command_line_through_quantization(tiny, capsys):
    from prunelab.cli.main import main

    args = [*tiny, "--model", "lenet5-caffe", "--method", "svd-units", "--set", "prune.epochs=2",
            "--set", "prune.lr=0.01", "--set", "prune.kl_warmup=1", "--set", "quantize.epochs=1", "--threads", "1"]
    assert main(["run", *args]) == 0
    run = Path(capsys.readouterr().out.split("run: ")[1].splitlines()[0])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["pruned"]["method"] == "svd-units" and summary["pruned"]["sparsity"] > 0.3
    compaction = summary["compressed"]["compaction"]
    assert compaction["architecture"] == "20-50-500-10"
    assert sum(compaction["kept_units"].values()) < 580  # units died and compaction removed them
    assert summary["compressed"]["file_bytes"] > 0
    rows = metrics(run, "pruned")
    assert list(rows[-1]["units"]) == ["conv1", "conv2", "fc1", "fc2"]


def test_the_record_sweep_trains_svd_units_on_the_records_dense_model():
    from prunelab.runs.config import load_toml
    from prunelab.runs.pipeline import stage_dir
    from prunelab.sweeps.spec import load_sweep

    records = Path(__file__).resolve().parents[2] / "experiments" / "records"
    sweep = load_sweep(records / "lenet5-caffe-units.toml")
    assert [(c.prune.method, c.prune.epochs, c.prune.kl_scale, c.prune.unit_kl_scale) for c in sweep.configs] == [
        ("svd-units", 60, 1.0, 10.0)]
    dense = {stage_dir(c, "runs", "dense") for c in [*sweep.configs, load_toml(records / "lenet5-caffe.toml")]}
    assert len(dense) == 1
