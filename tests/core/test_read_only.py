"""A folder that cannot be written gives one line, and a finished run is shown again without any
write. The tests run as root, for whom permission bits mean nothing, so a read-only file system is
simulated where the library writes: every write and folder creation fails with EROFS."""

import errno
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from prunelab.errors import PrunelabError
from prunelab.foundations import files
from prunelab.runs import pipeline
from prunelab.runs.config import RunConfig, set_value

CONFIG = {"data.train_limit": 200, "data.test_limit": 100, "train.epochs": 1, "train.batch_size": 32,
          "prune.epochs": 1, "prune.rounds": 1, "quantize.epochs": 0}


def read_only(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):  # as on a read-only mount: an existing folder is still fine
        if not self.is_dir():
            refuse()
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    monkeypatch.setattr(Path, "symlink_to", refuse)
    monkeypatch.setattr(Path, "unlink", refuse)
    monkeypatch.setattr(files, "open", refuse, raising=False)  # the lock files


def config() -> RunConfig:
    value = RunConfig()
    for key, item in CONFIG.items():
        set_value(value, key, item)
    return value


def test_a_run_in_a_read_only_folder_is_one_line(tmp_path, monkeypatch, mnist):
    read_only(monkeypatch)
    with pytest.raises(PrunelabError, match="Read-only file system"):
        pipeline.execute(config(), tmp_path / "runs", log=lambda m: None)


def test_a_finished_run_is_shown_again_without_a_single_write(tmp_path, monkeypatch, mnist):
    first = pipeline.execute(config(), tmp_path / "runs", log=lambda m: None)
    read_only(monkeypatch)
    again = pipeline.execute(config(), tmp_path / "runs", log=lambda m: None)
    assert again["trained"] == [] and again["compressed"] == first["compressed"]


def test_an_os_error_the_library_does_not_wrap_is_one_line_from_the_command(capsys, monkeypatch):
    from prunelab.cli import main

    def handler(args):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), "out/report.md")

    monkeypatch.setattr(main.parser().__class__, "parse_args", lambda self, argv=None: SimpleNamespace(handler=handler))
    assert main.main([]) == 2
    assert capsys.readouterr().err == "prunelab: error: out/report.md: Read-only file system\n"
