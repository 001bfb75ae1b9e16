"""`prunelab sweep CONFIG.toml`: expand a sweep file into runs, execute them, collect the results."""

import sys

from prunelab.errors import PrunelabError


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def register_sweep(parser):
    parser.add_argument("config", metavar="CONFIG.toml", help="sweep file: [base], [grid] and/or [[runs]]")
    parser.add_argument("--runs-dir", help="where runs go (default: ./runs or $PRUNELAB_RUNS_DIR)")
    parser.add_argument("--jobs", type=int, help="runs at a time in worker processes (default: min(cores, runs))")
    parser.add_argument("--threads", type=int, help="torch threads per run (default: cores // jobs)")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="local: worker processes here (default); ray: Ray tasks, here or on a cluster "
                             "(needs pip install 'prunelab[ray]'; see docs/cluster.md)")
    parser.add_argument("--address", help="with --executor ray: 'auto' or the head's HOST:PORT "
                                          "(default: a Ray instance on this machine only)")
    parser.add_argument("--no-file-locks", dest="file_locks", action="store_false",
                        help="with --executor ray: take no file locks (for a shared filesystem that refuses "
                             "flock; the Ray driver orders shared stages itself; see docs/cluster.md)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a base setting of every run, e.g. --set data.dataset=fashion-mnist")
    parser.add_argument("--output", help="folder for the tables (default: <runs-dir>/sweeps/<sweep name>)")
    parser.add_argument("--max-runs", type=int, default=None,
                        help="allow a sweep of more runs than the usual limit (1000)")
    parser.add_argument("--collect-only", action="store_true", help="rebuild the tables from disk, train nothing")
    parser.set_defaults(handler=sweep)


def parse_overrides(items: list[str]) -> dict:
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise PrunelabError(f"--set needs KEY=VALUE, got '{item}'")
        overrides[key.strip()] = value.strip()
    return overrides


def sweep(args) -> int:
    import contextlib
    from pathlib import Path

    from prunelab.foundations.files import exclusive_lock
    from prunelab.runs.pipeline import default_runs_dir
    from prunelab.sweeps import manifest, progress
    from prunelab.sweeps.collect import collect
    from prunelab.sweeps.progress import plural
    from prunelab.sweeps.runner import run_sweep
    from prunelab.sweeps.spec import load_sweep

    if args.jobs is not None and args.jobs < 1:
        raise PrunelabError(f"--jobs must be at least 1, got {args.jobs}")
    if args.threads is not None and args.threads < 1:
        raise PrunelabError(f"--threads must be at least 1, got {args.threads}")
    check_executor(args)
    from prunelab.sweeps.spec import MAX_RUNS

    if args.max_runs is not None and args.max_runs < 1:
        raise PrunelabError(f"--max-runs must be at least 1, got {args.max_runs}")
    plan = load_sweep(args.config, parse_overrides(args.set), args.max_runs or MAX_RUNS)
    runs_dir = Path(args.runs_dir or default_runs_dir())
    out = Path(args.output) if args.output else manifest.output_dir(plan, runs_dir)
    execution, outcome = None, None
    if not args.collect_only:
        if args.file_locks:  # a filesystem that refuses flock says so now, not in every run
            with exclusive_lock(runs_dir / "stages" / ".lock-check"):
                pass
        log(f"sweep {plan.name}: {len(plan.configs)} runs up to stage '{plan.stop}' in {runs_dir}")
        if args.executor == "ray":
            outcome, execution, where = run_on_ray(plan, runs_dir, args)
        else:
            outcome = run_sweep(plan, runs_dir, args.jobs, log=log, threads=args.threads)
            execution = {"jobs": outcome.jobs, "threads_per_job": outcome.threads,
                         "seconds": round(outcome.seconds, 1), "failed": len(outcome.failed)}
            where = f"{outcome.jobs} at a time, {plural(outcome.threads, 'torch thread')} each"
        print(f"sweep {plan.name}: {len(plan.configs) - len(outcome.failed)} of {len(plan.configs)} runs finished "
              f"in {outcome.seconds:.0f} s ({where})")
        for line in progress.sharing_lines(plan.configs, runs_dir, plan.stop, outcome.trained):
            print(line)
    # two sweeps ending at once take turns with the tables (each is written whole and renamed, so
    # without the lock the last writer's tables win, complete)
    lock = exclusive_lock(out / ".collect.lock") if args.file_locks else contextlib.nullcontext()
    with lock:
        tables = collect(manifest.sweep_run_dirs(plan, runs_dir), plan.stop, out)
        manifest.write_manifest(out, plan, runs_dir, execution)
    print(f"collected {tables['finished']} finished of {tables['count']} runs into {out}/ "
          f"(runs.csv, epochs.csv, results.sqlite)")
    if outcome is not None and outcome.failed:
        first = next(iter(outcome.failed.values()))
        raise PrunelabError(f"{len(outcome.failed)} of {len(plan.configs)} runs failed (first: {first}); "
                            f"rerun the same command to resume")
    return 0


def check_executor(args) -> None:
    if args.executor == "ray" and args.jobs is not None:
        raise PrunelabError("--jobs is for the local executor; on Ray each run reserves --threads CPUs "
                            "and the cluster's CPUs decide how many run at once")
    if args.executor != "ray" and args.address is not None:
        raise PrunelabError("--address needs --executor ray")
    if args.executor != "ray" and not args.file_locks and not args.collect_only:
        raise PrunelabError("--no-file-locks needs --executor ray: the local executor's workers take turns "
                            "on shared stages through the file locks")


def run_on_ray(plan, runs_dir, args):
    """The Ray executor's outcome, its sweep.json entry and the words for the summary line."""
    from prunelab.sweeps.progress import plural
    from prunelab.sweeps.ray_executor import run_sweep_on_ray

    outcome = run_sweep_on_ray(plan, runs_dir, args.address, threads=args.threads or 1, log=log,
                               file_locks=args.file_locks)
    execution = {"executor": "ray", "nodes": outcome.nodes, "cpus": outcome.cpus, "threads_per_job": outcome.threads,
                 "seconds": round(outcome.seconds, 1), "failed": len(outcome.failed)}
    where = (f"Ray: {plural(outcome.nodes, 'node')}, {plural(outcome.cpus, 'CPU')}, "
             f"{plural(outcome.threads, 'torch thread')} per run")
    return outcome, execution, where
