"""MAC counts checked by hand, the benchmark's result, and the `bench` command."""

import argparse
import json
import os

import pytest
import torch
from inference_helpers import pruned_model

from prunelab.cli import commands
from prunelab.cli.bench import format_result, register_bench
from prunelab.errors import PrunelabError
from prunelab.inference import benchmark
from prunelab.inference.macs import flop_ceiling, mac_counts


def test_lenet5_macs_with_90_percent_of_each_layer_pruned():
    rows = mac_counts(pruned_model("lenet5", 0.9))
    # conv1 150 weights x 28*28 positions, conv2 2,400 x 10*10, then 48,000 + 10,080 + 840 once each
    assert [r["macs_dense"] for r in rows] == [117_600, 240_000, 48_000, 10_080, 840]
    assert sum(r["macs_dense"] for r in rows) == 416_520
    # kept: 15, 240, 4,800, 1,008 and 84 weights
    assert [r["macs_nonzero"] for r in rows] == [11_760, 24_000, 4_800, 1_008, 84]
    assert flop_ceiling(rows) == pytest.approx(10.0)


def test_lenet5_1998_counts_absent_connections_as_dense_work_only():
    rows = mac_counts(pruned_model("lenet5-1998", 0.0))
    assert rows[1]["macs_dense"] == 2_400 * 100  # the dense kernel computes all 96 map pairs
    assert sum(r["macs_nonzero"] for r in rows) == 326_520  # the 60 real pairs: the README's figure


def test_ceiling_of_an_unpruned_model_is_one_and_of_an_empty_one_is_none():
    assert flop_ceiling(mac_counts(pruned_model("lenet-300-100", 0.0))) == 1.0
    assert flop_ceiling([{"macs_dense": 10, "macs_nonzero": 0}]) is None


def test_benchmark_reports_both_paths_at_each_batch_size():
    model = pruned_model("lenet5", 0.9).train()
    threads = torch.get_num_threads()
    result = benchmark(model, batch_sizes=(1, 8), repeats=2, min_seconds=0, threads=1)
    assert model.training and torch.get_num_threads() == threads  # left as found
    assert result["macs_dense"] == 416_520 and result["flop_ceiling"] == pytest.approx(10.0)
    assert [row["batch_size"] for row in result["batches"]] == [1, 8]
    for row in result["batches"]:
        assert row["speedup"] == pytest.approx(row["dense_ms"] / row["sparse_ms"])
        assert row["sparse_images_per_s"] == pytest.approx(row["batch_size"] * 1e3 / row["sparse_ms"])
        assert row["rounds"] == 2 and set(row["conv_kernels"]) == {"conv1", "conv2"}
        assert row["max_relative_difference"] < 1e-5
    assert result["machine"]["torch_threads"] == 1 and result["machine"]["torch"] == torch.__version__
    assert result["machine"]["omp_wait_policy"] == os.environ.get("OMP_WAIT_POLICY")  # how threads waited


@pytest.mark.parametrize("settings,message", [
    ({"batch_sizes": (0,)}, "batch sizes must be positive"),
    ({"repeats": 0}, "repeats must be at least 1"),
    ({"threads": 0}, "threads must be at least 1"),
])
def test_impossible_benchmark_settings_are_user_errors(settings, message):
    with pytest.raises(PrunelabError, match=message):
        benchmark(pruned_model("lenet5", 0.5), **settings)


@pytest.fixture
def saved_model(tmp_path):
    path = tmp_path / "lenet5.pt"
    torch.save(pruned_model("lenet5", 0.9).state_dict(), path)
    return path


def run_handler(argv):
    parser = argparse.ArgumentParser()
    register_bench(parser)
    args = parser.parse_args(argv)
    return args.handler(args)


def test_bench_handler_prints_json(saved_model, capsys):
    argv = [str(saved_model), "--model", "lenet5", "--batch-sizes", "1,8", "--repeats", "2", "--json"]
    assert run_handler(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "lenet5" and [r["batch_size"] for r in result["batches"]] == [1, 8]


def test_bench_handler_prints_a_line_per_batch_size(saved_model, capsys):
    assert run_handler([str(saved_model), "--model", "lenet5", "--batch-sizes", "2,4", "--repeats", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("lenet5 (pruned): MACs per image 416,520 dense, 41,652")
    assert [line.split()[0] for line in lines[2:4]] == ["2", "4"]
    assert lines[4].startswith("machine: ")


@pytest.mark.parametrize("text", ["", "1,x", "0,64", "-1"])
def test_bad_batch_sizes_are_user_errors(saved_model, text):
    with pytest.raises(PrunelabError, match="--batch-sizes needs positive integers"):
        run_handler([str(saved_model), "--model", "lenet5", "--batch-sizes", text])


def test_a_pt_file_without_model_is_a_user_error(saved_model):
    with pytest.raises(PrunelabError, match="needs --model"):
        run_handler([str(saved_model)])


def test_text_output_says_plainly_when_sparse_loses():
    row = {"batch_size": 1000, "dense_ms": 6.0, "sparse_ms": 10.0, "speedup": 0.6, "conv_kernels": {}}
    tie = {**row, "batch_size": 64, "speedup": 0.98}
    result = {"model": "lenet5", "stage": "pruned", "macs_dense": 416_520, "macs_nonzero": 41_652,
              "flop_ceiling": 10.0, "batches": [tie, row],
              "machine": {"processor": "cpu", "logical_cpus": 2, "torch": "2", "torch_threads": 2,
                          "load_average_1min": None}}
    text = format_result(result)
    assert "sparse is slower than dense at batch 1000 (0.60x): skipping zero weights saves MACs (ceiling 10.0x)" in text
    assert "sparse is no faster than dense at batch 64 (0.98x): within timing noise." in text


@pytest.mark.skipif("bench" not in commands.COMMANDS, reason="the lead wires `bench` into the CLI")
def test_bench_through_the_command_line(saved_model, capsys):
    from prunelab.cli.main import main

    argv = ["bench", str(saved_model), "--model", "lenet5", "--batch-sizes", "1,8", "--repeats", "2", "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["macs_nonzero"] == 41_652


def test_bench_times_the_c_engine_and_onnxruntime_beside_torch(saved_model, capsys):
    from prunelab.deploy.engine import compiler

    argv = [str(saved_model), "--model", "lenet5", "--batch-sizes", "1,20", "--repeats", "2", "--json"]
    assert run_handler(argv) == 0
    result = json.loads(capsys.readouterr().out)
    expected = {"onnxruntime", "onnxruntime-compact"} | ({"c-float", "c-codebook"} if compiler() else set())
    for row in result["batches"]:
        assert set(row["engines"]) == expected
        for cell in row["engines"].values():
            assert cell["same_predictions"] and cell["max_relative_difference"] < 1e-4
            assert cell["speedup"] == pytest.approx(row["dense_ms"] / cell["ms"])
    assert (compiler() is None) == ("c" in result["engines_missing"])


def test_bench_engine_choice(saved_model, capsys):
    assert run_handler([str(saved_model), "--model", "lenet5", "--batch-sizes", "2", "--repeats", "2",
                        "--engines", "onnxruntime-compact"]) == 0
    text = capsys.readouterr().out
    assert "onnxruntime-compact" in text and "c-float" not in text and "  onnxruntime  " not in text
    with pytest.raises(PrunelabError, match="unknown engine 'tflite'"):
        run_handler([str(saved_model), "--model", "lenet5", "--engines", "tflite"])
