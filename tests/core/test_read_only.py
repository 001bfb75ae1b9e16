"""A folder that cannot be written: every command that would write there says so in one line, and a
finished run is shown again (its data read from a read-only cache) without a single write.

The folder is made read-only for real. Permission bits stop an ordinary user but not root, so under
root the commands run in a private mount namespace where the folder is bind-mounted read-only
(`unshare --mount`, as a read-only disk or container volume would be); where root has no such
namespace the tests are skipped, saying why."""

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from prunelab.data import default_cache_dir
from prunelab.data.idx import encode_idx
from prunelab.data.published import idx_arrays
from prunelab.runs import pipeline
from prunelab.runs.config import load_toml

RUN = """
[data]
train_limit = 200
test_limit = 100
[train]
epochs = 1
batch_size = 32
[prune]
epochs = 1
rounds = 1
[quantize]
epochs = 0
"""
SWEEP = """
[base]
data.train_limit = 200
data.test_limit = 100
train.epochs = 1
prune.epochs = 1
[grid]
"prune.sparsity" = [0.5, 0.7]
"""
# Runs `prunelab` commands (JSON list of argument lists) in one process; prints JSON results.
DRIVER = """
import contextlib, io, json, sys, traceback
from prunelab.cli.main import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except BaseException:
            code, _ = "traceback", err.write(traceback.format_exc())
    results.append({"code": code, "out": out.getvalue().splitlines(), "err": err.getvalue().splitlines()})
print(json.dumps(results))
"""
# what a write there fails with: EROFS on the read-only mount, EACCES from permission bits
REFUSED = os.strerror(errno.EROFS) if os.geteuid() == 0 else os.strerror(errno.EACCES)


def read_only_prefix(folder: Path) -> list[str]:
    """The command prefix that runs a program with `folder` read-only for root ([] for other users,
    whom chmod stops); skips the test where root cannot have a private read-only mount."""
    if os.geteuid() != 0:
        return []
    prefix = ["unshare", "--mount", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(folder)]
    if shutil.which("unshare") is None:
        pytest.skip("running as root, whom permission bits do not stop, and no unshare for a read-only mount")
    probe = folder / "probe"
    mounted = subprocess.run(prefix + ["true"], capture_output=True)
    refused = subprocess.run(prefix + ["touch", str(probe)], capture_output=True)
    if mounted.returncode != 0 or refused.returncode == 0 or probe.exists():
        probe.unlink(missing_ok=True)
        pytest.skip("running as root, whom permission bits do not stop, and no mount namespace for a read-only "
                    f"bind mount here ({mounted.stderr.decode().strip() or 'the mount did not hold'})")
    return prefix


def run_read_only(folder: Path, commands: list[list], cache: Path) -> list[dict]:
    """Each command's exit code and output, run with `folder` read-only and `cache` as the data cache."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1",
           "PRUNELAB_DATA_DIR": str(cache)}
    argv = [sys.executable, "-c", DRIVER, json.dumps([[str(a) for a in c] for c in commands])]
    prefix = read_only_prefix(folder)
    if not prefix:
        subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
    try:
        done = subprocess.run(prefix + argv, env=env, capture_output=True, text=True, timeout=600)
    finally:
        if not prefix:
            subprocess.run(["chmod", "-R", "u+w", str(folder)], check=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def finished_run(mnist, tmp_path) -> SimpleNamespace:
    """tmp_path/ro: a finished run (with its compressed file), a copy of the MNIST cache, an empty
    folder for outputs; and the run's settings file outside it."""
    ro = tmp_path / "ro"
    (ro / "out").mkdir(parents=True)
    shutil.copytree(default_cache_dir() / "mnist", ro / "cache" / "mnist")
    (tmp_path / "run.toml").write_text(RUN)
    (tmp_path / "sweep.toml").write_text(SWEEP)
    summary = pipeline.execute(load_toml(tmp_path / "run.toml"), ro / "runs", log=lambda m: None)
    return SimpleNamespace(ro=ro, runs=ro / "runs", run=Path(summary["run_dir"]), cache=ro / "cache",
                           config=tmp_path / "run.toml", sweep=tmp_path / "sweep.toml")


def test_every_command_that_would_write_in_a_read_only_folder_says_so_in_one_line(finished_run, mnist, tmp_path):
    f = finished_run
    idx = tmp_path / "idx"  # the published MNIST as IDX files: `data fetch` would store it in the cache
    idx.mkdir()
    for name, array in idx_arrays(mnist).items():
        (idx / name).write_bytes(encode_idx(array))
    commands = {
        "a new run": ["run", "--config", f.config, "--runs-dir", f.runs, "--seed", "3"],
        "a sweep": ["sweep", f.sweep, "--runs-dir", f.runs, "--jobs", "1"],
        "report --output": ["report", f.runs, "--output", f.ro / "out" / "report"],
        "export": ["export", f.run, "--format", "state_dict", "--output", f.ro / "out" / "model.pt"],
        "decompress --output": ["decompress", f.run / "quantized" / "model.plc", "--output", f.ro / "out" / "d.pt"],
        "data fetch into the cache": ["data", "fetch", "--data-dir", idx],
    }
    results = dict(zip(commands, run_read_only(f.ro, list(commands.values()), f.cache)))
    for what, result in results.items():
        errors = [line for line in result["err"] if line.startswith("prunelab: error: ")]
        assert result["code"] == 2 and len(errors) == 1 and errors[0] == result["err"][-1], (what, result)
        assert REFUSED in errors[0] and not any("Traceback" in line for line in result["err"]), (what, result)
    assert {p.name for p in f.runs.iterdir()} == {"stages", f.run.name} and not any((f.ro / "out").iterdir())


def test_a_finished_run_is_shown_again_from_a_read_only_folder_without_its_lock_files(finished_run):
    f = finished_run
    for lock in (f.runs / "stages").glob("*.lock"):
        lock.unlink()  # as if copied without them: none can be made now
    before = sorted((p.relative_to(f.ro), p.stat().st_mtime_ns) for p in f.ro.rglob("*"))
    shown, evaluated = run_read_only(f.ro, [["run", "--config", f.config, "--runs-dir", f.runs],
                                            ["evaluate", f.run]], f.cache)
    assert shown["code"] == 0 and evaluated["code"] == 0, (shown, evaluated)
    assert [line.split(":")[0] for line in shown["err"] if ": reusing " in line] == ["dense", "pruned", "quantized"]
    assert f"run: {f.run}" in shown["out"] and evaluated["out"][0].startswith("lenet5 on mnist test: accuracy ")
    assert sorted((p.relative_to(f.ro), p.stat().st_mtime_ns) for p in f.ro.rglob("*")) == before


def test_an_os_error_the_library_does_not_wrap_is_one_line_from_the_command(capsys, monkeypatch):
    from prunelab.cli import main

    def handler(args):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), "out/report.md")

    monkeypatch.setattr(main, "parse", lambda argv=None: SimpleNamespace(handler=handler))
    assert main.main([]) == 2
    assert capsys.readouterr().err == "prunelab: error: out/report.md: Read-only file system\n"



def test_a_full_disk_writing_the_second_file_leaves_neither(tmp_path, monkeypatch):
    """The C export writes a .h and a .c: a full disk used to leave the header without its source."""
    import errno
    import os

    from prunelab.errors import PrunelabError
    from prunelab.foundations import files

    calls = []
    real = os.fsync

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(files.os, "fsync", fsync)
    with pytest.raises(PrunelabError, match=r"could not write .*net\.c: No space left on device"):
        files.write_together({tmp_path / "net.h": b"header", tmp_path / "net.c": b"source"})
    assert list(tmp_path.iterdir()) == []
