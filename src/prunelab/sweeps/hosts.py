"""Which machine trained a stage: `<stage dir>/host.json`, written by the Ray executor.

On a cluster the runs table says where each stage ran (`dense_host`, `pruned_host`), read back
from disk like every other column, so `--collect-only` rebuilds it. The local executor writes
none: every stage ran on the machine that holds the tables.
"""

import json
from pathlib import Path

from prunelab.foundations.files import write_json

FILE_NAME = "host.json"


def record_host(stage_dir, host: str) -> None:
    write_json(Path(stage_dir) / FILE_NAME, {"host": host})


def read_host(stage_dir) -> str | None:
    path = Path(stage_dir) / FILE_NAME
    try:
        return json.loads(path.read_text())["host"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
