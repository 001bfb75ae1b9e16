"""Anything that is not a regular file is refused by what it is, never read: a FIFO would block
forever and a link to /dev/zero would fill memory."""

import os

import pytest

from prunelab.cli.sources import load_source
from prunelab.compression import CompressedModel
from prunelab.errors import PrunelabError
from prunelab.runs import checkpoint


@pytest.fixture(params=["fifo", "dev-zero"])
def special(request, tmp_path):
    path = tmp_path / "model.plc"
    if request.param == "fifo":
        os.mkfifo(path)
        return path, "a FIFO, not a regular file"
    os.symlink("/dev/zero", path)
    return path, "a device or other special file, not a regular file"


def test_a_compressed_model_that_is_not_a_regular_file_is_refused(special):
    path, message = special
    with pytest.raises(PrunelabError, match=message):
        CompressedModel.read(path)


def test_a_checkpoint_that_is_not_a_regular_file_is_refused(special):
    path, message = special
    with pytest.raises(PrunelabError, match=message):
        checkpoint.load(path)


def test_evaluate_and_export_say_what_the_source_is_not(special):
    path, _ = special
    with pytest.raises(PrunelabError, match="is not a regular file or a run directory"):
        load_source(str(path))


def test_a_file_past_the_formats_largest_is_not_read_whole(tmp_path, monkeypatch):
    from prunelab.compression import fileformat

    monkeypatch.setattr(fileformat, "MAX_FILE_BYTES", 1000)
    path = tmp_path / "big.plc"
    path.write_bytes(fileformat.MAGIC + bytes(2000))
    with pytest.raises(PrunelabError, match=r"is larger than a compressed model file can be \(1,000 bytes at most\)"):
        CompressedModel.read(path)


def test_a_settings_file_that_is_not_a_regular_file_is_refused(special):
    """A FIFO as --config (or a sweep's base) hung, /dev/zero read until memory ran out (issue 23)."""
    from prunelab.runs.config import read_toml

    path, message = special
    with pytest.raises(PrunelabError, match=message):
        read_toml(path)


def test_a_metrics_log_that_is_not_a_regular_file_is_refused(special):
    from prunelab.training.metrics import read_rows

    path, message = special
    with pytest.raises(PrunelabError, match=message):
        read_rows(path)


@pytest.mark.parametrize("content, message", [(b"a = 1\n\xff\xfe", "is not text"),
                                              (b"x = " + b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
                                              (b"x = 1\n" * 200_000, "larger than a config file can be")])
def test_binary_deep_or_huge_settings_are_one_line(tmp_path, content, message):
    from prunelab.runs.config import read_toml

    (tmp_path / "c.toml").write_bytes(content)
    with pytest.raises(PrunelabError, match=message):
        read_toml(tmp_path / "c.toml")


def test_a_binary_metrics_log_ends_where_it_stops_being_json(tmp_path):
    from prunelab.training.metrics import read_rows

    (tmp_path / "metrics.jsonl").write_bytes(b'{"epoch": 1}\n\xff\xfe\x00\n{"epoch": 2}\n')
    assert read_rows(tmp_path / "metrics.jsonl") == [{"epoch": 1}]


def test_a_folder_where_a_file_belongs_is_named_not_its_descriptor(tmp_path):
    """fdopen on a folder raised "[Errno 21] Is a directory: 3", the descriptor for a name (issue 23)."""
    (tmp_path / "model.plc").mkdir()
    with pytest.raises(PrunelabError, match=r"model.plc is a folder, not a regular file"):
        CompressedModel.read(tmp_path / "model.plc")


def test_an_onnx_file_that_is_a_fifo_is_named_for_what_it_is(tmp_path, capsys):
    """It was reported as "does not exist" (issue 23)."""
    from prunelab.cli.main import main

    os.mkfifo(tmp_path / "m.onnx")
    assert main(["evaluate", str(tmp_path / "m.onnx")]) == 2
    assert "m.onnx is a FIFO, not a regular file" in capsys.readouterr().err


def test_a_mask_that_is_not_a_regular_file_is_refused(special):
    from prunelab.pruning.mask import Mask

    path, message = special
    with pytest.raises(PrunelabError, match=message):
        Mask.load(path)
