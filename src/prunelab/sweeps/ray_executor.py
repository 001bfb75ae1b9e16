"""Execute a sweep's runs as Ray tasks, on this machine or a cluster (`prunelab sweep --executor ray`).

A sweep means the same here as under the local executor (runner.py): every run goes through the
ordinary `pipeline.execute`, so a finished stage is reused and an interrupted one resumes from its
last epoch checkpoint. Three things differ, because the runs may land on other machines:

- Shared stages. File locks do not reliably hold across machines (flock on NFS is advisory at
  best), so the driver orders the runs itself: the first run that needs an unfinished stage trains
  it, and the runs sharing that stage are submitted only once it is done (`stage_owners`).
- The runs directory must be one filesystem that every node sees at the same path. The driver
  writes a token there; every node must read it back, before the sweep and before each run.
- Faults. A task whose worker process dies (SIGKILL, out of memory, a node leaving) is retried by
  Ray and resumes from the checkpoint; an exception raised by the run itself is not retried but
  reported, as the local executor does.
"""

import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from prunelab.errors import PrunelabError
from prunelab.runs import pipeline
from prunelab.runs.stages import finished
from prunelab.sweeps.hosts import record_host
from prunelab.sweeps.progress import STAGES_UP_TO, Progress
from prunelab.sweeps.runner import one_line, start_order

INSTALL = "pip install 'prunelab[ray]'"
TOKEN_DIR = ".cluster-tokens"
RETRIES = 3  # times a task is rerun after its worker died; each rerun resumes from the checkpoint
NODE_CHECK_SECONDS = 120


@dataclass
class RayOutcome:
    threads: int
    nodes: int = 0
    cpus: int = 0
    seconds: float = 0.0
    failed: dict = field(default_factory=dict)  # run index -> one-line error
    hosts: dict = field(default_factory=dict)  # run index -> host that finished it
    trained: set = field(default_factory=set)  # stage directories this sweep computed (not another process)


def import_ray():
    try:
        import ray
    except ImportError:
        raise PrunelabError(f"--executor ray needs Ray, which is not installed here: {INSTALL}") from None
    return ray


def check_address(address: str | None) -> None:
    """`auto`, HOST:PORT, or None (a Ray instance on this machine only). A HOST:PORT is probed first:
    Ray itself retries an unreachable address for minutes before it gives up."""
    if address in (None, "auto"):
        return
    host, sep, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):  # an IPv6 literal, [::1]:6379
        host = host[1:-1]
    if not sep or not host or not port.isdigit():
        raise PrunelabError(f"--address must be 'auto' or HOST:PORT (the head's GCS port, 6379 by default), got '{address}'")
    try:
        with socket.create_connection((host, int(port)), timeout=5) as connection:
            speaks_grpc = _answers_http2(connection)
    except OSError as exc:
        raise PrunelabError(f"no Ray cluster reachable at {address}: {exc.strerror or exc}; "
                            f"start one with `ray start --head` or check the address") from None
    if not speaks_grpc:
        raise PrunelabError(f"{address} answers, but not as Ray's GCS (a gRPC server) does; check the address")


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # + an empty SETTINGS


def _answers_http2(connection, timeout: float = 5.0) -> bool:
    """Ray's GCS is a gRPC server: to a client's HTTP/2 preface it answers with a SETTINGS frame. A
    port that answers otherwise, or not within ``timeout``, is not Ray (ray.init would wait on it for
    minutes)."""
    connection.settimeout(timeout)
    connection.sendall(HTTP2_PREFACE)
    header = b""
    try:
        while len(header) < 9:
            chunk = connection.recv(9 - len(header))
            if not chunk:
                return False
            header += chunk
    except socket.timeout:
        return False
    return header[3] == 4 and header[5:9] == bytes(4)  # frame type SETTINGS on stream 0


def connect(ray, address: str | None) -> bool:
    """Join the cluster (or start Ray here); True when this call started it, so it must shut it down."""
    check_address(address)
    if ray.is_initialized():  # a caller (the tests) brought its own
        return False
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = "here" if address is None else f"at {address}"
        raise PrunelabError(f"cannot use the Ray cluster {where}: {one_line(exc)}") from None
    return True


def stage_owners(configs, runs_dir, stop: str, order: list[int]) -> tuple[dict, dict]:
    """Who trains what: {stage dir: the first run (in `order`) that needs it unfinished} and
    {run: the stage dirs it must wait for, owned by other runs}. Owners come earlier in `order`
    than the runs waiting on them, so the waits cannot form a cycle."""
    owners, waits = {}, {}
    for index in order:
        waits[index] = set()
        for stage in STAGES_UP_TO[stop]:
            directory = pipeline.stage_dir(configs[index], runs_dir, stage)
            if finished(directory) is not None:
                continue
            if owners.setdefault(directory, index) != index:
                waits[index].add(directory)
    return owners, waits


def write_token(runs_dir: Path) -> str:
    token = uuid.uuid4().hex
    path = runs_dir / TOKEN_DIR / token
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(token)
    return token


def verify_token(runs_dir: str, token: str) -> str:
    """On a node: this node's name, or a PrunelabError when it does not see the driver's runs dir."""
    host = socket.gethostname()
    try:
        seen = (Path(runs_dir) / TOKEN_DIR / token).read_text()
    except OSError:
        seen = None
    if seen != token:
        raise PrunelabError(f"node {host} does not see this sweep's runs directory {runs_dir} (the driver's "
                            f"token is not there): every node must mount it at the same path (docs/cluster.md)")
    return host


def check_nodes(ray, runs_dir: Path, token: str) -> list[str]:
    """Every live node reads the token back (a task pinned to each node, reserving no CPU)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    check = ray.remote(num_cpus=0, max_retries=0)(verify_token)
    nodes = [node["NodeID"] for node in ray.nodes() if node["Alive"]]
    refs = [check.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(str(runs_dir), token)
            for node in nodes]
    try:
        return ray.get(refs, timeout=NODE_CHECK_SECONDS)
    except ray.exceptions.GetTimeoutError:
        raise PrunelabError(f"not every Ray node answered within {NODE_CHECK_SECONDS} s") from None
    except ray.exceptions.RayTaskError as exc:
        raise PrunelabError(one_line(exc.cause)) from None


def run_task(index: int, config, runs_dir: str, stop: str, token: str, threads: int, sink,
             file_locks: bool = True) -> tuple[str, list]:
    """One run on a worker: the ordinary pipeline, its log lines sent to the driver's one display."""
    import torch

    torch.set_num_threads(threads)
    host = verify_token(runs_dir, token)
    log = lambda message: sink.put.remote(index, message)  # noqa: E731  (not awaited: see Messages)
    import ray

    node = ray.get_runtime_context().get_node_id()[:8]  # hosts can share a name (containers, one machine)
    log(f"started on {host} (node {node}, pid {os.getpid()})")
    todo = [pipeline.stage_dir(config, runs_dir, s) for s in STAGES_UP_TO[stop]]
    todo = [d for d in todo if finished(d) is None]
    trained = pipeline.execute(config, runs_dir, log=log, stop=stop, file_locks=file_locks)["trained"]
    for directory in todo:  # the stages this task trained (or finished after a retry)
        record_host(directory, host)
    return host, sorted(trained)


def run_sweep_on_ray(sweep, runs_dir, address: str | None = None, threads: int = 1, log=print,
                     file_locks: bool = True) -> RayOutcome:
    """Each run a task reserving `threads` CPUs; runs that share an unfinished stage wait for it.
    `file_locks=False`: the tasks take no stage locks (for a shared filesystem that refuses flock;
    the driver's ordering already keeps two tasks off one stage)."""
    ray = import_ray()
    started = connect(ray, address)
    try:
        runs_dir = Path(runs_dir).resolve()
        token = write_token(runs_dir)
        try:
            hosts = check_nodes(ray, runs_dir, token)
            cpus = [int(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node["Alive"]]
            outcome = RayOutcome(threads, nodes=len(hosts), cpus=sum(cpus))
            if max(cpus, default=0) < threads:  # a task must fit on one node, or it waits forever
                raise PrunelabError(f"--threads {threads} asks for more CPUs than any Ray node has "
                                    f"(the largest has {max(cpus, default=0)})")
            began = time.perf_counter()
            schedule(ray, sweep, runs_dir, token, outcome, Progress([pipeline.run_name(c) for c in sweep.configs], log),
                     file_locks)
            outcome.seconds = time.perf_counter() - began
        finally:
            (runs_dir / TOKEN_DIR / token).unlink(missing_ok=True)
    finally:
        if started:
            ray.shutdown()
    return outcome


def schedule(ray, sweep, runs_dir: Path, token: str, outcome: RayOutcome, progress: Progress,
             file_locks: bool = True) -> None:
    configs, order = sweep.configs, start_order(sweep.configs, runs_dir)
    owners, waits = stage_owners(configs, runs_dir, sweep.stop, order)
    task = ray.remote(num_cpus=outcome.threads, max_retries=RETRIES, retry_exceptions=False)(run_task)
    sink = messages_here(ray)
    waiting, pending, ended = list(order), {}, set()
    try:
        while waiting or pending:
            for index in [i for i in waiting if all(owners[d] in ended for d in waits[i])]:
                waiting.remove(index)
                lost = [d for d in waits[index] if finished(d) is None]
                if lost:  # its owner failed: rerunning the sweep trains the stage again
                    outcome.failed[index] = f"needs {lost[0].name}, which run {progress.names[owners[lost[0]]]} did not finish"
                    ended.add(index)
                    progress.finish(index, outcome.failed[index])
                    continue
                ref = task.remote(index, configs[index], str(runs_dir), sweep.stop, token, outcome.threads, sink,
                                  file_locks)
                pending[ref] = index
            done, _ = ray.wait(list(pending), num_returns=1, timeout=0.2) if pending else ([], [])
            drain(ray, sink, progress)
            for ref in done:
                index = pending.pop(ref)
                try:
                    outcome.hosts[index], trained = ray.get(ref)
                    outcome.trained.update(trained)
                except Exception as exc:  # one bad run must not cost the others
                    outcome.failed[index] = one_line(getattr(exc, "cause", None) or exc)
                ended.add(index)
                progress.finish(index, outcome.failed.get(index))
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        drain(ray, sink, progress)


class Messages:
    """The workers' log lines, held for the driver's one progress display. Workers send without
    waiting for an answer: a task blocked in ray.get hands its CPUs back to Ray, which would then
    start more runs than --threads allows."""

    def __init__(self):
        self.lines = []

    def put(self, index: int, text: str) -> None:
        self.lines.append((index, text))

    def take(self) -> list:
        lines, self.lines = self.lines, []
        return lines


def messages_here(ray):
    """The Messages actor, on the driver's own node: placed on another node, it would die with that
    node and take the sweep's display (and the sweep) with it."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    return ray.remote(num_cpus=0)(Messages).options(scheduling_strategy=here).remote()


def drain(ray, sink, progress: Progress) -> None:
    for index, text in ray.get(sink.take.remote()):
        progress.message(index, text)
