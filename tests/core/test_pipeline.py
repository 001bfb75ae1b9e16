"""End-to-end runs on a few hundred real MNIST images: reuse, resume, determinism."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from prunelab.runs import pipeline, stages
from prunelab.runs.config import RunConfig, set_value


def tiny_config(**overrides) -> RunConfig:
    config = RunConfig()
    values = {"data.train_limit": 600, "data.test_limit": 300, "train.epochs": 2, "train.lr": 0.05,
              "train.momentum": 0.9, "train.batch_size": 32, "prune.epochs": 1, "prune.rounds": 2, "prune.sparsity": 0.8, **overrides}
    for key, value in values.items():
        set_value(config, key, value)
    return config


def metrics(run: Path, stage: str):
    return [json.loads(line) for line in (run / stage / "metrics.jsonl").read_text().splitlines()]


def without_time(rows):
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in rows]


def test_run_writes_a_summary_with_exact_sparsity(mnist, tmp_path):
    summary = pipeline.execute(tiny_config(), tmp_path, log=lambda m: None)
    run = Path(summary["run_dir"])
    on_disk = json.loads((run / "summary.json").read_text())
    assert on_disk["model"] == "lenet5" and on_disk["dataset"] == "mnist" and on_disk["seed"] == 0
    pruned = on_disk["pruned"]
    assert pruned["weights_total"] == 61_470
    assert pruned["weights_nonzero"] == 61_470 - sum(round(0.8 * r["weights"]) for r in pruned["layers"][:-1])
    assert on_disk["dense"]["test_accuracy"] > 0.5  # trained, not chance
    assert on_disk["dense"]["test_errors"] == round(300 * (1 - on_disk["dense"]["test_accuracy"]))
    state = torch.load(run / "pruned" / "model.pt", weights_only=True)
    assert int(sum(torch.count_nonzero(state[r["layer"] + ".weight"]) for r in pruned["layers"][:-1])) \
        == pruned["weights_nonzero"]


def test_same_seed_same_numbers_and_a_rerun_trains_nothing(mnist, tmp_path):
    first = pipeline.execute(tiny_config(), tmp_path / "a", log=lambda m: None)
    second = pipeline.execute(tiny_config(), tmp_path / "b", log=lambda m: None)
    assert without_time(metrics(Path(first["run_dir"]), "pruned")) == \
        without_time(metrics(Path(second["run_dir"]), "pruned"))
    messages = []
    pipeline.execute(tiny_config(), tmp_path / "a", log=messages.append)
    assert any(m.startswith("dense: reusing") for m in messages)
    assert any(m.startswith("pruned: reusing") for m in messages)


def test_runs_that_differ_only_in_pruning_share_the_dense_model(mnist, tmp_path):
    pipeline.execute(tiny_config(), tmp_path, log=lambda m: None)
    messages = []
    pipeline.execute(tiny_config(**{"prune.sparsity": 0.5}), tmp_path, log=messages.append)
    assert any(m.startswith("dense: reusing") for m in messages)
    assert len([p for p in (tmp_path / "stages").glob("dense-*") if p.is_dir()]) == 1


def interrupt_after(monkeypatch, module, after: int, run) -> None:
    """Call `run()` with `module.train_epoch` raising KeyboardInterrupt, as Ctrl-C would, on its call
    after the first `after`; the real train_epoch is back afterwards."""
    real, calls = module.train_epoch, {"n": 0}

    def dies_midway(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > after:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "train_epoch", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.setattr(module, "train_epoch", real)


@pytest.mark.parametrize("stop_after", [1, 2, 3])
def test_an_interrupted_run_resumes_and_ends_identical(mnist, tmp_path, monkeypatch, stop_after):
    reference = pipeline.execute(tiny_config(), tmp_path / "ref", log=lambda m: None)
    interrupt_after(monkeypatch, stages, stop_after,
                    lambda: pipeline.execute(tiny_config(), tmp_path / "cut", log=lambda m: None))
    resumed = pipeline.execute(tiny_config(), tmp_path / "cut", log=lambda m: None)
    for stage in ("dense", "pruned"):
        assert without_time(metrics(Path(resumed["run_dir"]), stage)) == \
            without_time(metrics(Path(reference["run_dir"]), stage))


@pytest.mark.parametrize("overrides", [
    {"prune.backend": "torch"},
    {"prune.backend": "torch", "prune.method": "global"},
    {"prune.method": "global"},
    {"prune.method": "course"},
    {"prune.method": "std", "prune.quality": 0.5},
    {"prune.schedule": "gradual", "prune.epochs": 2},
])
def test_every_method_and_backend_runs_and_reaches_its_sparsity(mnist, tmp_path, overrides):
    summary = pipeline.execute(tiny_config(**overrides), tmp_path, log=lambda m: None)
    pruned = summary["pruned"]
    state = torch.load(Path(summary["run_dir"]) / "pruned" / "model.pt", weights_only=True)
    assert not any(k.endswith(("_orig", "_mask")) for k in state)
    nonzero = sum(int(torch.count_nonzero(state[r["layer"] + ".weight"])) for r in pruned["layers"][:-1])
    assert nonzero <= pruned["weights_nonzero"]
    if overrides.get("prune.method") != "std":
        assert pruned["sparsity"] == pytest.approx(0.8, abs=1e-3)


def test_per_layer_targets_from_a_sensitivity_scan_are_reached_exactly(mnist, tmp_path):
    summary = pipeline.execute(tiny_config(**{"prune.layers": "conv1=0.5,fc1=0.95"}), tmp_path, log=lambda m: None)
    layers = {r["layer"]: r for r in summary["pruned"]["layers"]}
    assert layers["conv1"]["kept"] == 150 - 75
    assert layers["fc1"]["kept"] == 48_000 - 45_600
    assert layers["conv2"]["kept"] == 2_400  # not named: left dense


def test_sparse_variational_dropout_prunes_through_the_pipeline(mnist, tmp_path):
    config = tiny_config(**{"prune.method": "svd", "prune.epochs": 3, "prune.lr": 0.01, "prune.kl_warmup": 1})
    summary = pipeline.execute(config, tmp_path, log=lambda m: None)
    pruned = summary["pruned"]
    assert pruned["sparsity"] > 0.3
    state = torch.load(Path(summary["run_dir"]) / "pruned" / "model.pt", weights_only=True)
    nonzero = sum(int(torch.count_nonzero(state[r["layer"] + ".weight"])) for r in pruned["layers"][:-1])
    assert nonzero == pruned["weights_nonzero"]


def test_a_smaller_kl_weight_keeps_more_weights(mnist, tmp_path):
    base = {"prune.method": "svd", "prune.epochs": 3, "prune.lr": 0.01, "prune.kl_warmup": 1}
    full, light = (pipeline.execute(tiny_config(**base, **{"prune.kl_scale": scale}), tmp_path, log=lambda m: None,
                                    stop="pruned")["pruned"] for scale in (1.0, 0.1))
    assert light["weights_nonzero"] > full["weights_nonzero"]


def test_settings_chosen_on_validation_then_the_file_is_tested_once_on_the_test_set(mnist, tmp_path):
    from prunelab.compress import unpack_model
    from prunelab.compression import CompressedModel
    from prunelab.training.loop import evaluate

    config = tiny_config(**{"data.validation": True, "quantize.epochs": 1})
    lines = []
    summary = pipeline.execute(config, tmp_path, log=lines.append)
    assert summary["evaluated_on"] == "validation"
    # every figure measured on the validation split is named for it, on disk, in the file, in the log
    on_disk = json.loads((Path(summary["run_dir"]) / "summary.json").read_text())
    for section in (on_disk["dense"], on_disk["pruned"], on_disk["compressed"], on_disk["compressed"]["before_finetuning"]):
        assert "validation_accuracy" in section and not [k for k in section if k.startswith("test_")]
    assert on_disk["dense"]["validation_errors"] == round(300 * (1 - on_disk["dense"]["validation_accuracy"]))
    metadata = CompressedModel.read(Path(summary["run_dir"]) / "quantized" / "model.plc").metadata
    assert "validation_accuracy" in metadata and "test_accuracy" not in metadata
    assert any("validation accuracy" in line for line in lines)
    assert not [line for line in lines if "test accuracy" in line] and lines[-1].startswith("test set, once")
    final = summary["final_test"]
    assert list(final) == ["dense", "pruned", "quantized"]
    decoded = unpack_model(CompressedModel.read(Path(summary["run_dir"]) / "quantized" / "model.plc"))
    images, labels = (torch.from_numpy(a[:300].copy()) for a in (mnist.test_images, mnist.test_labels))
    assert final["quantized"]["test_correct"] == evaluate(decoded, images, labels)["test_correct"]
    pruned = stages.load_model(config, Path(summary["run_dir"]) / "pruned", "cpu")
    assert final["pruned"]["test_correct"] == evaluate(pruned, images, labels)["test_correct"]
    plain = pipeline.execute(tiny_config(**{"quantize.epochs": 1}), tmp_path, log=lambda m: None)
    assert "final_test" not in plain


def test_retraining_with_distillation_keeps_the_mask_exact(mnist, tmp_path):
    summary = pipeline.execute(tiny_config(**{"prune.distill": 0.5, "prune.method": "global"}), tmp_path,
                               log=lambda m: None, stop="pruned")
    assert summary["pruned"]["weights_nonzero"] == round(0.2 * summary["pruned"]["weights_total"])


@pytest.mark.parametrize("distill", [0.0, 0.7])
def test_masked_retraining_before_clustering_keeps_exactly_the_pruned_weights(mnist, tmp_path, distill):
    from prunelab import models
    from prunelab.compression import CompressedModel
    from prunelab.deploy.compact import compact
    from prunelab.deploy.graph import trace

    config = tiny_config(**{"quantize.retrain_epochs": 2, "quantize.retrain_lr": 0.01, "quantize.epochs": 0,
                            "quantize.retrain_distill": distill})
    summary = pipeline.execute(config, tmp_path, log=lambda m: None)
    run = Path(summary["run_dir"])
    assert "retrained" in summary["compressed"]
    assert (run / "quantized" / "retrained.pt").exists() and not (run / "quantized" / "retrain.pt").exists()
    retrained = torch.load(run / "quantized" / "retrained.pt", weights_only=True)
    pruned = torch.load(run / "pruned" / "model.pt", weights_only=True)
    layers = [r["layer"] for r in summary["pruned"]["layers"][:-1]]
    for layer in layers:  # weights moved, zeros stayed zeros
        assert torch.equal(retrained[f"{layer}.weight"] != 0, pruned[f"{layer}.weight"] != 0)
    assert any(not torch.equal(retrained[f"{n}.weight"], pruned[f"{n}.weight"]) for n in layers)
    stored = sum(layer.weight_count for layer in CompressedModel.read(run / "quantized" / "model.plc").layers)
    model = models.build(config.model)
    model.load_state_dict(retrained)
    compact_model = compact(trace(model)).graph  # the file stores the compact model's weights, no others
    assert stored == sum(int(np.count_nonzero(op.weight)) for op in compact_model.layers())
    assert stored <= summary["pruned"]["weights_nonzero"]
    if distill:  # the teacher changed the training: the same run without it ends elsewhere
        plain = pipeline.execute(tiny_config(**{"quantize.retrain_epochs": 2, "quantize.retrain_lr": 0.01,
                                                "quantize.epochs": 0}), tmp_path, log=lambda m: None)
        other = torch.load(Path(plain["run_dir"]) / "quantized" / "retrained.pt", weights_only=True)
        assert not torch.equal(other[f"{layers[0]}.weight"], retrained[f"{layers[0]}.weight"])


def test_interrupted_masked_retraining_resumes_to_the_same_file(mnist, tmp_path, monkeypatch):
    from prunelab.runs import quantize_stage

    config = tiny_config(**{"quantize.retrain_epochs": 2, "quantize.retrain_lr": 0.01, "quantize.epochs": 0})
    reference = pipeline.execute(config, tmp_path / "ref", log=lambda m: None)
    interrupt_after(monkeypatch, quantize_stage, 1,
                    lambda: pipeline.execute(config, tmp_path / "cut", log=lambda m: None))
    messages = []
    resumed = pipeline.execute(config, tmp_path / "cut", log=messages.append)
    assert any("masked retraining): resuming after epoch 1 of " in m for m in messages)
    same = [(Path(r["run_dir"]) / "quantized" / "model.plc").read_bytes() for r in (reference, resumed)]
    assert same[0] == same[1]


def test_float16_centroids_and_biases_make_a_smaller_file_with_the_models_accuracy(mnist, tmp_path):
    from prunelab.compression import CompressedModel

    full, half = (pipeline.execute(tiny_config(**{"quantize.epochs": 1, "quantize.float_bits": bits}), tmp_path,
                                   log=lambda m: None) for bits in (32, 16))
    assert half["compressed"]["file_bytes"] < full["compressed"]["file_bytes"]
    stored = CompressedModel.read(Path(half["run_dir"]) / "quantized" / "model.plc")
    assert all(layer.float_bits == 16 for layer in stored.layers)
    # the stage refuses to finish unless the decoded file classifies exactly as the model in memory
    assert abs(half["compressed"]["test_accuracy"] - full["compressed"]["test_accuracy"]) < 0.02


def test_per_layer_code_widths_reach_the_file_and_leave_other_layers_alone(mnist, tmp_path):
    from prunelab.compression import CompressedModel

    def widths(summary) -> dict:
        stored = CompressedModel.read(Path(summary["run_dir"]) / "quantized" / "model.plc")
        return {layer.name: layer.codebook.size for layer in stored.layers}

    base = tiny_config(**{"quantize.epochs": 1})
    narrow = tiny_config(**{"quantize.epochs": 1, "quantize.layers": "conv2=3, fc1=2"})
    plain, mixed = (pipeline.execute(c, tmp_path, log=lambda m: None) for c in (base, narrow))
    before, after = widths(plain), widths(mixed)
    assert after["conv2"] <= 8 < before["conv2"] and after["fc1"] <= 4 < before["fc1"]
    assert after["conv1"] == before["conv1"] and after["fc2"] == before["fc2"]
    assert mixed["compressed"]["file_bytes"] < plain["compressed"]["file_bytes"]
    assert mixed["pruned"] == plain["pruned"]  # the setting is the quantized stage's alone: one pruned stage


def test_a_run_asked_to_stop_early_keeps_the_later_stages_it_has(mnist, tmp_path):
    config = tiny_config(**{"quantize.epochs": 0})
    full = pipeline.execute(config, tmp_path, log=lambda m: None, stop="all")
    again = pipeline.execute(config, tmp_path, log=lambda m: None, stop="pruned")
    assert again["compressed"] == full["compressed"]
    on_disk = json.loads((Path(full["run_dir"]) / "summary.json").read_text())
    assert on_disk["compressed"]["file_bytes"] == full["compressed"]["file_bytes"]
