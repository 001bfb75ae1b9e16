"""The Ray executor: the smoke sweep gives the local executor's tables, a killed worker's run is
retried and resumes, a killed driver's sweep resumes when rerun and still gives those tables, and
bad input (no Ray, no cluster, a runs directory not shared) is one line.

The tests that need Ray share one local instance (2 CPUs) and skip, saying why, without it."""

import csv
import dataclasses
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from sweep_helpers import FEWER_IMAGES, SMOKE, cli, without_timing

from prunelab.errors import PrunelabError
from prunelab.runs import pipeline
from prunelab.sweeps import ray_executor
from prunelab.sweeps.hosts import read_host
from prunelab.sweeps.runner import start_order
from prunelab.sweeps.spec import load_sweep
from prunelab.training.metrics import read_rows


def columns_without_hosts(text: str) -> list[list[str]]:
    rows = without_timing(text)
    keep = [i for i, name in enumerate(rows[0]) if not name.endswith("_host")]
    return [[row[i] for i in keep] for row in rows]


def test_the_smoke_sweep_on_ray_gives_the_local_executors_tables(smoke, ray_here, tmp_path, capsys):
    """Two runs at a time, each on one torch thread as in the local `smoke` run: bit for bit.
    (With 2 threads on one side and 1 on the other, test losses differed in the 7th digit.)"""
    capsys.readouterr()
    assert cli("sweep", SMOKE, "--runs-dir", tmp_path, "--executor", "ray", "--threads", 1, *FEWER_IMAGES) == 0
    out = capsys.readouterr().out
    assert "6 runs share 1 dense model (1 trained now, 0 reused from earlier)" in out
    assert "(Ray: 1 node, 2 CPUs, 1 torch thread per run)" in out
    tables = tmp_path / "sweeps" / smoke["out"].name
    runs = (tables / "runs.csv").read_text()
    assert columns_without_hosts(runs) == without_timing(smoke["csv"])
    assert without_timing((tables / "epochs.csv").read_text()) == without_timing(smoke["epochs"])
    rows = list(csv.DictReader(io.StringIO(runs)))
    assert {(row["dense_host"], row["pruned_host"]) for row in rows} == {(socket.gethostname(),) * 2}
    assert not any((tmp_path / ray_executor.TOKEN_DIR).iterdir())  # the sweep's token is gone


def test_a_killed_worker_is_retried_and_resumes_from_its_checkpoint(ray_here, tmp_path):
    """One run of 4 dense epochs on 6,000 images (about a second each), killed after its first."""
    plan = load_sweep(SMOKE, {"data.train_limit": "6000", "data.test_limit": "200", "train.epochs": "4"})
    plan = dataclasses.replace(plan, stop="dense", configs=plan.configs[:1])
    dense = pipeline.stage_dir(plan.configs[0], tmp_path, "dense")
    lines, result = [], {}
    sweep = threading.Thread(target=lambda: result.update(outcome=ray_executor.run_sweep_on_ray(plan, tmp_path, log=lines.append)))
    sweep.start()
    started = wait_for(lambda: [line for line in lines if "started on" in line])
    assert wait_for(lambda: (dense / "checkpoint.pt").exists()), "the dense stage wrote no checkpoint"
    first_pid = int(started[0].rsplit("pid ", 1)[1].rstrip(")"))
    os.kill(first_pid, signal.SIGKILL)  # mid-stage: after epoch 1 of 4
    sweep.join(timeout=300)
    outcome = result["outcome"]
    assert outcome.failed == {}
    started = [line for line in lines if "started on" in line]
    assert len(started) == 2 and f"pid {first_pid}" not in started[1]  # a second worker ran it again
    assert any("dense: resuming after epoch" in line for line in lines)
    assert [row["epoch"] for row in read_rows(dense / "metrics.jsonl")] == [1, 2, 3, 4]  # each epoch once
    assert (dense / "result.json").exists() and read_host(dense) == socket.gethostname()


def wait_for(condition, seconds: float = 300):
    """condition()'s value once truthy, polled every 10 ms; falsy after `seconds`. Generous: Ray runs
    its workers at nice 15, so two ordinary processes on two cores starve the smoke sweep's tasks
    (the killed-driver test gave up after 120 s with the dense stage one epoch in)."""
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return value


def test_a_failing_run_is_reported_not_retried_and_its_dependants_wait_for_a_rerun(ray_here, tmp_path, capsys):
    """The dense model's owner fails in its worker (its stage holds a folder where its checkpoint
    belongs, which only the run itself reads and cannot clear: settings and data are checked in the
    driver before anything starts); the five runs sharing that dense model are not started but fail
    naming it; one line at the end."""
    overrides = dict(item.split("=", 1) for item in FEWER_IMAGES[1::2])
    dense = pipeline.stage_dir(load_sweep(SMOKE, overrides).configs[0], tmp_path, "dense")
    (dense / "checkpoint.pt").mkdir(parents=True)
    with pytest.raises(PrunelabError, match=r"6 of 6 runs failed \(first: PrunelabError: .*checkpoint.pt does not fit"):
        cli("sweep", SMOKE, "--runs-dir", tmp_path, "--executor", "ray", *FEWER_IMAGES)
    out = capsys.readouterr()
    assert out.out.count("0 of 6 runs finished") == 1
    assert out.err.count("started on") == 1  # one task ran, once
    assert out.err.count("FAILED: needs dense-") == 5


def test_a_node_that_does_not_see_the_runs_directory_is_refused(ray_here, tmp_path):
    with pytest.raises(PrunelabError, match="does not see this sweep's runs directory"):
        ray_executor.check_nodes(ray_here, tmp_path, "a-token-written-elsewhere")


def test_more_threads_than_a_node_has_cpus_is_refused(ray_here, tmp_path):
    with pytest.raises(PrunelabError, match="--threads 3 asks for more CPUs than any Ray node has"):
        cli("sweep", SMOKE, "--runs-dir", tmp_path, "--executor", "ray", "--threads", 3, *FEWER_IMAGES)


def test_the_first_run_needing_a_stage_trains_it_and_the_others_wait(tmp_path):
    plan = load_sweep(SMOKE)
    order = start_order(plan.configs, tmp_path)
    owners, waits = ray_executor.stage_owners(plan.configs, tmp_path, plan.stop, order)
    dense = pipeline.stage_dir(plan.configs[0], tmp_path, "dense")
    assert owners[dense] == order[0]
    assert waits[order[0]] == set() and all(waits[i] == {dense} for i in order[1:])
    assert sorted(owners.values()).count(order[0]) == 2  # the dense model and its own pruned model


def test_without_ray_the_error_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if not installed
    with pytest.raises(PrunelabError, match=r"pip install 'prunelab\[ray\]'"):
        cli("sweep", SMOKE, "--runs-dir", tmp_path, "--executor", "ray")


@pytest.mark.parametrize("args, message", [
    (["--executor", "ray", "--address", "127.0.0.1:1"], "no Ray cluster reachable at 127.0.0.1:1"),
    (["--executor", "ray", "--address", "head-node"], "--address must be 'auto' or HOST:PORT"),
    (["--executor", "ray", "--jobs", "2"], "--jobs is for the local executor"),
    (["--address", "auto"], "--address needs --executor ray"),
])
def test_bad_executor_settings_are_one_line_errors(args, message, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[test]' brings it)")
    with pytest.raises(PrunelabError, match=message):
        cli("sweep", SMOKE, "--runs-dir", tmp_path, *args)


def test_a_killed_driver_loses_nothing_finished_and_the_rerun_gives_the_local_tables(smoke, ray_here, tmp_path, capsys):
    """The smoke sweep driven by a second process on the suite's Ray instance, SIGKILLed once the
    dense model is finished and the pruned stages have begun: Ray ends the job's tasks with it, and
    the same command run again trains only what was not finished, giving the local executor's tables."""
    command = ["sweep", SMOKE, "--runs-dir", tmp_path, "--executor", "ray", "--threads", 1, *FEWER_IMAGES]
    address = ray_here.get_runtime_context().gcs_address
    log = tmp_path / "driver.log"
    with open(log, "w") as sink:
        driver = subprocess.Popen([sys.executable, "-m", "prunelab", *map(str, command), "--address", address],
                                  stdout=subprocess.DEVNULL, stderr=sink)
    plan = load_sweep(SMOKE, dict(item.split("=", 1) for item in FEWER_IMAGES[1::2]))
    stages = list(dict.fromkeys(pipeline.stage_dir(c, tmp_path, s) for c in plan.configs for s in ("dense", "pruned")))
    begun = lambda: [d for d in stages[1:] if (d / "checkpoint.pt").exists() or (d / "result.json").exists()]
    assert wait_for(lambda: (stages[0] / "result.json").exists() and begun()), log.read_text()[-2000:]
    assert wait_for(sweep_tasks_running, 10), "no task seen running"  # what the wait below looks for is there
    driver.kill()
    driver.wait()
    assert wait_for(lambda: not sweep_tasks_running(), 60), "a task outlived its driver"
    done = {d: (d / "result.json").read_bytes() for d in stages if (d / "result.json").exists()}
    epochs = {d: read_rows(d / "metrics.jsonl") for d in done}
    assert stages[0] in done and len(done) < len(stages)  # killed mid-sweep
    cut = [d for d in stages if (d / "checkpoint.pt").exists()]  # here: one pruned stage after its first epoch
    capsys.readouterr()
    assert cli(*command) == 0  # the same command again (in this process: the suite's Ray is already here)
    out, err = capsys.readouterr()
    assert err.count("pruned: resuming after") == len(cut)
    assert "6 runs share 1 dense model (0 trained now, 1 reused from earlier)" in out
    assert f"6 runs use 6 pruned models ({len(stages) - len(done)} trained now, {len(done) - 1} reused" in out
    for directory, result in done.items():  # nothing finished was trained again
        assert (directory / "result.json").read_bytes() == result
        assert read_rows(directory / "metrics.jsonl") == epochs[directory]
    for directory in stages:  # and what was cut short resumed without repeating an epoch
        assert [row["epoch"] for row in read_rows(directory / "metrics.jsonl")] == [1, 2]
    tables = tmp_path / "sweeps" / smoke["out"].name
    assert columns_without_hosts((tables / "runs.csv").read_text()) == without_timing(smoke["csv"])
    assert without_timing((tables / "epochs.csv").read_text()) == without_timing(smoke["epochs"])


def sweep_tasks_running() -> list[int]:
    """Processes of this suite's Ray instance running a sweep task, whichever driver gave it: Ray's
    workers are children of its raylet (a child of this process) and take their task's name as
    their title, `ray::run_task` (Linux /proc)."""
    def children(pid: str) -> list[str]:
        found = []
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1] == pid:
                    found.append(entry)
            except (OSError, IndexError):
                pass  # ended meanwhile
        return found

    def title(pid: str) -> bytes:
        try:
            return open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            return b""

    raylets = [pid for pid in children(str(os.getpid())) if b"raylet" in title(pid)]
    return [int(pid) for raylet in raylets for pid in children(raylet) if title(pid).startswith(b"ray::run_task")]


def test_a_port_that_answers_but_is_not_ray_is_refused_within_seconds(tmp_path):
    """issue 23: the pre-check was a TCP connect, and ray.init then waited past 400 s."""
    import socket
    import threading
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def talk():
        connection, _ = server.accept()
        connection.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        time.sleep(1)
        connection.close()

    threading.Thread(target=talk, daemon=True).start()
    started = time.perf_counter()
    with pytest.raises(PrunelabError, match="answers, but not as Ray's GCS"):
        ray_executor.check_address(f"127.0.0.1:{server.getsockname()[1]}")
    assert time.perf_counter() - started < 10
    server.close()


def test_an_ipv6_address_is_read_as_host_and_port():
    with pytest.raises(PrunelabError, match=r"no Ray cluster reachable at \[::1\]:1"):
        ray_executor.check_address("[::1]:1")
