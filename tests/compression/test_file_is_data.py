"""A model file is data: opening one never imports code named in it, and never allocates more than
the model it is checked against (or the format's cap) allows (issue 23, critical)."""

import types

import numpy as np
import pytest
import torch
from compression_helpers import AllocationBound

from prunelab import models
from prunelab.cli.main import main
from prunelab.compress import pack_model, unpack_model
from prunelab.compression import fileformat, huffman
from prunelab.compression.container import CompressedModel
from prunelab.compression.kmeans import Codebook
from prunelab.compression.layer import MAX_POSITIONS, CompressedLayer
from prunelab.compression.units import KeptUnits
from prunelab.errors import PrunelabError
from prunelab.pruning.mask import Mask
from prunelab.training.weight_sharing import SharedWeights, layer_bits

PAYLOAD = "import pathlib\npathlib.Path('ran.txt').write_text('ran')\ndef run():\n    return None\n"


def file_naming(model_name: str, path) -> None:
    """A valid, compact LeNet-300-100 file (10% of weights kept) whose header names ``model_name``."""
    torch.manual_seed(0)
    model = models.build("lenet-300-100")
    mask = Mask({n: torch.rand_like(p) < 0.1 for n, p in model.named_parameters() if n.endswith("weight")})
    for name, keep in mask.items():
        dict(model.named_parameters())[name].data *= keep
    shared = SharedWeights(model, mask, layer_bits(model, mask, 8, 5))
    pack_model(model, model_name, shared, 5, {"dataset": "mnist"}).write(path)


@pytest.fixture
def payload_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "payload.py").write_text(PAYLOAD)
    file_naming("payload:run", tmp_path / "evil.plc")
    return tmp_path / "evil.plc"


@pytest.mark.parametrize("command", [["decompress", "evil.plc"], ["compress", "evil.plc", "--output", "again.plc"]])
def test_a_file_naming_module_and_function_runs_nothing(payload_file, capsys, command):
    """What needs the module the file names (a state_dict, a recompression) is refused."""
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "model 'payload:run', which is not built in" in err and "--model" in err
    assert len(err.strip().splitlines()) == 1
    assert not (payload_file.parent / "ran.txt").exists()
    assert not (payload_file.parent / "again.plc").exists()


@pytest.mark.parametrize("command", [["evaluate", "evil.plc"], ["export", "evil.plc", "--format", "c", "--output", "c"],
                                     ["export", "evil.plc", "--format", "onnx", "--output", "m.onnx"]])
def test_a_file_naming_code_runs_from_its_own_operations_without_importing_it(payload_file, capsys, command):
    """The file carries its operations as data (opspec): evaluation and export use them, and the
    name in its header stays a label."""
    assert main(command) == 0
    assert "from the file's own operations" in capsys.readouterr().err
    assert not (payload_file.parent / "ran.txt").exists()


@pytest.mark.parametrize("name", ["sys:exit", "os:abort"])
def test_standard_library_functions_named_by_a_file_are_not_called(tmp_path, capsys, name):
    file_naming(name, tmp_path / "m.plc")
    assert main(["decompress", str(tmp_path / "m.plc"), "--output", str(tmp_path / "m.pt")]) == 2
    assert f"model '{name}', which is not built in" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "m.plc")]) == 0  # sys:exit made it exit 0 with no output
    assert f"{name} on mnist test: accuracy" in capsys.readouterr().out  # its own operations ran, not sys.exit


def test_the_python_api_refuses_to_import_what_a_file_names(payload_file):
    with pytest.raises(PrunelabError, match="not built in"):
        unpack_model(CompressedModel.read(payload_file))
    assert not (payload_file.parent / "ran.txt").exists()


def test_a_user_model_named_on_the_command_line_opens_its_file(tmp_path, monkeypatch, capsys):
    """What the user names is theirs to import: --model builds it, whatever name the file holds."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mynets.py").write_text("from prunelab import models\ndef net():\n"
                                        "    return models.build('lenet-300-100')\n")
    file_naming("SmallCNN", tmp_path / "api.plc")  # prunelab.save records the class name
    assert main(["decompress", "api.plc", "--model", "mynets:net"]) == 0
    assert "SmallCNN" in capsys.readouterr().out


def giant_layer(rows: int, cols: int) -> CompressedLayer:
    """fc1 with one weight at position 0 and fillers to the end: a valid layer of rows x cols
    positions in about (rows * cols / 255) bits."""
    gaps = np.zeros(1 + (rows * cols - 1) // 255, np.int64)
    gaps[0] = 1
    lengths = np.zeros(256, np.uint8)
    lengths[:2] = 1
    return CompressedLayer("fc1", (rows, cols), 8, Codebook(np.array([0.5], np.float32), 5),
                           np.array([1], np.uint8), lengths, huffman.encode(np.zeros(1, np.int64), [1]), 1,
                           huffman.encode(gaps, lengths), gaps.size, bias=np.zeros(rows, np.float32))


def test_a_declared_shape_is_checked_against_the_model_before_anything_is_unpacked():
    """fc1 of LeNet-300-100 is 300 x 784; a file declaring 20,000 x 784 (15.7 M positions in 7.7 KB)
    used to be unpacked to its full shape (about 140 MB) before the comparison."""
    layer = giant_layer(20_000, 784)
    compressed = CompressedModel.from_bytes(
        CompressedModel("lenet-300-100", {}, [layer], {}, {"fc1": KeptUnits.all_of((20_000, 784))}).to_bytes())
    with AllocationBound(8 << 20), pytest.raises(PrunelabError, match=r"'fc1.weight' has shape \(20000, 784\)"):
        unpack_model(compressed)


def test_a_shape_past_the_cap_is_refused_while_reading_its_header():
    """The red team's file: one layer of 60,000 x 60,000 positions. Refused on reading the shape,
    before the streams (which would take 1.8 MB) are even looked at."""
    fake = types.SimpleNamespace(name="fc1", codebook=Codebook(np.array([0.5], np.float32), 5), index_bits=8,
                                 weight_code_lengths=np.array([1], np.uint8),
                                 index_code_lengths=np.array([1, 1] + [0] * 254, np.uint8), weight_count=1,
                                 index_count=1, weight_stream=b"\x00", index_stream=b"\x80", float_bits=32,
                                 bias_bits=32, bias=np.zeros(60_000, np.float32))
    kept = types.SimpleNamespace(shape=(60_000, 60_000), all_kept=True)
    data = fileformat.encode_model("lenet-300-100", {}, [fake], {}, {"fc1": kept})
    with AllocationBound(4 << 20), pytest.raises(PrunelabError, match=f"more than {MAX_POSITIONS:,} weights"):
        CompressedModel.from_bytes(data)


def test_an_input_shape_past_the_cap_is_refused_before_anything_is_allocated(tmp_path, capsys):
    """bench of a file whose input shape lies allocated batches of it (several GB), then failed."""
    file_naming("lenet-300-100", tmp_path / "m.plc")
    honest = CompressedModel.read(tmp_path / "m.plc")
    CompressedModel(honest.model, {**honest.metadata, "input_shape": [1, 30_000, 30_000]}, honest.layers,
                    honest.dense, honest.kept).write(tmp_path / "lying.plc")
    assert main(["bench", str(tmp_path / "lying.plc")]) == 2
    assert "declares 900,000,000 values an example" in capsys.readouterr().err
