"""Trained quantization: zeros stay zero, codes stay fixed, the file reproduces the model exactly."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from prunelab import models
from prunelab.cli.main import main
from prunelab.compress import compact_graph, pack_model, unpack_model
from prunelab.compression import CompressedModel
from prunelab.deploy.compact import compact
from prunelab.deploy.graph import trace
from prunelab.pruning import criteria
from prunelab.pruning.mask import Mask
from prunelab.training.weight_sharing import CentroidOptimizer, SharedWeights, layer_bits


def pruned_model(name="lenet5", sparsity=0.8):
    torch.manual_seed(0)
    model = models.build(name)
    mask = criteria.magnitude_per_layer(dict(model.named_parameters()), Mask.ones_like(model), sparsity)
    mask.apply_to(model)
    return model, mask


def test_fine_tuning_moves_centroids_but_keeps_codes_and_zeros():
    model, mask = pruned_model()
    shared = SharedWeights(model, mask, layer_bits(model, mask, 8, 5))
    assert layer_bits(model, mask, 8, 5)["conv1.weight"] == 8 and layer_bits(model, mask, 8, 5)["fc1.weight"] == 5
    codes = {n: c.clone() for n, c in shared.codes.items()}
    before = {n: c.clone() for n, c in shared.centroids.items()}
    optimizer = CentroidOptimizer(model, shared, lr=0.01, momentum=0.9)
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    for _ in range(3):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    params = dict(model.named_parameters())
    for name, keep in mask.items():
        assert torch.equal(shared.codes[name], codes[name])
        assert torch.all(params[name][~keep] == 0)
        assert torch.equal(params[name][keep], shared.centroids[name][shared.codes[name]][keep])
        assert len(torch.unique(params[name][keep])) <= 2 ** shared.bits[name]
    assert any(not torch.equal(before[n], shared.centroids[n]) for n in before)


@pytest.mark.parametrize("float_bits", [32, 16])
@pytest.mark.parametrize("name", list(models.REGISTRY))
def test_the_file_holds_the_compact_model_bit_for_bit(name, float_bits, tmp_path):
    model, mask = pruned_model(name, 0.9)
    shared = SharedWeights(model, mask, layer_bits(model, mask, 8, 5))
    if float_bits == 16:
        shared.round_to_half(model)
        for weight_name in mask:  # what the file holds is what the model holds
            for p in (shared.centroids[weight_name], dict(model.named_parameters())[weight_name.replace("weight", "bias")]):
                assert torch.equal(p, p.half().float())
    pack_model(model, name, shared, 5, {"dataset": "mnist"}).write(tmp_path / "m.plc")
    assert (tmp_path / "m.plc").read_bytes()[8] == 3  # the compact format
    stored = CompressedModel.read(tmp_path / "m.plc")
    assert all((layer.float_bits == 16) == (float_bits == 16) for layer in stored.layers)
    expected = compact(trace(model)).graph  # what the file holds is the compact model, bit for bit
    for graph in (compact_graph(stored), compact(trace(unpack_model(stored))).graph):
        for a, b in zip(expected.layers(), graph.layers(), strict=True):
            assert a.name == b.name and same_bits(a.weight, b.weight) and same_bits(a.bias, b.bias)
            assert (getattr(a, "inputs", None) is None) == (getattr(b, "inputs", None) is None)
            assert getattr(a, "inputs", None) is None or np.array_equal(a.inputs, b.inputs)
    images = torch.rand(32, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(unpack_model(stored)(images).argmax(1), model.eval()(images).argmax(1))


def same_bits(a, b):
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def test_main_job_stages_write_a_file_whose_accuracy_equals_the_model_in_memory(tiny, capsys):
    assert main(["run", *tiny, "--set", "quantize.epochs=1"]) == 0
    out = capsys.readouterr().out
    run = Path(out.split("run: ")[1].splitlines()[0])
    summary = json.loads((run / "summary.json").read_text())
    c = summary["compressed"]
    assert (run / c["file"]).stat().st_size == c["file_bytes"]
    assert c["dense_bytes"] == 4 * 61_706
    assert c["table"][-1]["layer"] == "total"
    assert "smaller; accuracy from the decoded file" in out
    assert main(["evaluate", str(run / c["file"]), "--json"]) == 0
    capsys.readouterr()
    main(["decompress", str(run / c["file"])])
    assert "lenet5" in (out := capsys.readouterr().out) and "centroids and biases as float32" in out


def test_a_corrupt_compressed_file_gets_one_line_and_exit_2(tmp_path):
    model, mask = pruned_model()
    shared = SharedWeights(model, mask, layer_bits(model, mask, 8, 5))
    path = tmp_path / "m.plc"
    pack_model(model, "lenet5", shared, 5, {}).write(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    for command in (["decompress", str(path)], ["evaluate", str(path)], ["export", str(path), "--format", "onnx",
                                                                          "--output", str(tmp_path / "x.onnx")]):
        result = subprocess.run([sys.executable, "-m", "prunelab", *command], capture_output=True, text=True)
        assert result.returncode == 2, command
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_restored_centroids_are_the_tensors_the_optimizer_updates():
    model, mask = pruned_model()
    shared = SharedWeights(model, mask, layer_bits(model, mask, 8, 5))
    optimizer = CentroidOptimizer(model, shared, lr=0.01, momentum=0.9)
    saved = {n: c + 0.001 for n, c in shared.state().items()}
    shared.load_state(saved, model)
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert all(id(c) in held for c in shared.centroids.values())
    assert all(torch.equal(shared.centroids[n], saved[n]) for n in saved)
