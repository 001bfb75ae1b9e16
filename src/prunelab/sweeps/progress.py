"""What a sweep tells the user while it runs and when it ends.

Workers' log lines arrive interleaved, so each is prefixed with the sweep's state (runs done of
the total) and the run it belongs to. At the end the stages are counted by directory: runs that
share a dense model point at one stage directory, which is how "7 runs share 1 dense model" is
known without trusting any log line.
"""

from pathlib import Path

from prunelab.runs.pipeline import stage_dir
from prunelab.runs.stages import finished

STAGES_UP_TO = {"dense": ("dense",), "pruned": ("dense", "pruned"), "all": ("dense", "pruned", "quantized")}
NOUNS = {"dense": "dense model", "pruned": "pruned model", "quantized": "quantized model"}


class Progress:
    """Sweep-wide progress: one line per event, `[done/total] run: message`."""

    def __init__(self, names: list[str], log):
        self.names, self.log = names, log
        self.done, self.failed, self.running = 0, 0, set()

    def prefix(self) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        return f"[{self.done}/{len(self.names)} done{failed}, {len(self.running)} running]"

    def message(self, index: int, text: str) -> None:
        self.running.add(index)
        self.log(f"{self.prefix()} {self.names[index]}: {text}")

    def finish(self, index: int, error: str | None = None) -> None:
        self.running.discard(index)
        if error is None:
            self.done += 1
            self.log(f"{self.prefix()} {self.names[index]}: finished")
        else:
            self.failed += 1
            self.log(f"{self.prefix()} {self.names[index]}: FAILED: {error}")


def distinct_stage_dirs(configs, runs_dir, stage: str) -> list[Path]:
    dirs = [stage_dir(config, runs_dir, stage) for config in configs]
    return list(dict.fromkeys(dirs))


def finished_stages(configs, runs_dir, stop: str) -> dict[str, set]:
    """Stage -> the stage directories (of these runs) that hold a finished result now."""
    return {stage: {d for d in distinct_stage_dirs(configs, runs_dir, stage) if finished(d) is not None}
            for stage in STAGES_UP_TO[stop]}


def sharing_lines(configs, runs_dir, stop: str, trained_here: set) -> list[str]:
    """'7 runs share 1 dense model (1 trained now, 0 reused)', one line per stage. `trained_here`:
    the stage directories this sweep computed; one that another sweep finished meanwhile is reused."""
    after = finished_stages(configs, runs_dir, stop)
    trained_here = {Path(d).resolve() for d in trained_here}  # the Ray executor names them absolutely
    runs = len(configs)
    lines = []
    for stage in STAGES_UP_TO[stop]:
        dirs = distinct_stage_dirs(configs, runs_dir, stage)
        count = len(dirs)
        trained = sum(d.resolve() in trained_here for d in dirs)
        reused = sum(d in after[stage] and d.resolve() not in trained_here for d in dirs)
        verb = "share" if count < runs else ("uses" if runs == 1 else "use")
        lines.append(f"{plural(runs, 'run')} {verb} {plural(count, NOUNS[stage])} "
                     f"({trained} trained now, {reused} reused from earlier)")
    return lines


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
