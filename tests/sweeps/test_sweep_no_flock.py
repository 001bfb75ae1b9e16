"""A shared filesystem that refuses flock (NFS without a lock manager answers ENOLCK): one clear
line before anything trains, and the Ray executor's --no-file-locks runs the sweep taking no lock.

The filesystem is simulated by making fcntl.flock raise as such a mount does."""

import errno

import pytest
from sweep_helpers import PAIR, cli

from prunelab.errors import PrunelabError
from prunelab.foundations import files
from prunelab.runs import pipeline
from prunelab.runs.stages import finished
from prunelab.sweeps.spec import load_sweep


@pytest.fixture
def no_flock(monkeypatch):
    """Every flock in this process fails as on an NFS mount without a lock manager."""
    def refuse(handle, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(files.fcntl, "flock", refuse)


@pytest.fixture
def pair(tmp_path):
    path = tmp_path / "pair.toml"
    path.write_text(PAIR)
    return path


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_a_filesystem_refusing_flock_is_one_line_before_anything_trains(no_flock, pair, tmp_path, executor):
    with pytest.raises(PrunelabError) as caught:
        cli("sweep", pair, "--runs-dir", tmp_path / "runs", "--executor", executor)
    message = str(caught.value)
    assert "refuses file locks (flock: No locks available)" in message and "--no-file-locks" in message
    assert "\n" not in message
    assert not (tmp_path / "runs" / "sweeps").exists()  # nothing ran, nothing was collected


def test_a_run_on_such_a_filesystem_names_the_lock_it_could_not_take(no_flock, mnist, pair, tmp_path):
    config = load_sweep(pair).configs[0]
    with pytest.raises(PrunelabError, match=r"the filesystem of .*stages refuses file locks"):
        pipeline.execute(config, tmp_path / "runs", log=lambda message: None, stop="dense")


def test_no_file_locks_needs_the_ray_executor(pair, tmp_path):
    with pytest.raises(PrunelabError, match="--no-file-locks needs --executor ray"):
        cli("sweep", pair, "--runs-dir", tmp_path, "--no-file-locks")


def test_the_ray_executor_without_file_locks_finishes_and_takes_none(no_flock, ray_here, mnist, pair, tmp_path,
                                                                    capsys, monkeypatch):
    """The driver's flock fails (patched here); its tasks run in Ray's worker processes, where a
    lock would leave a `<stage dir>.lock` file: none may be there afterwards. The runs directory
    is given relative to the working folder, as a user types it."""
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "runs"
    assert cli("sweep", pair, "--runs-dir", "runs", "--executor", "ray", "--no-file-locks") == 0
    assert "2 runs share 1 dense model (1 trained now, 0 reused from earlier)" in capsys.readouterr().out
    for config in load_sweep(pair).configs:
        assert all(finished(pipeline.stage_dir(config, runs, stage)) for stage in ("dense", "pruned"))
    assert sorted(p.name for p in runs.rglob("*.lock")) == []
