"""Per-epoch metrics appended to a JSON-lines file as they happen (one JSON object a line)."""

import json
from pathlib import Path

from prunelab.errors import PrunelabError
from prunelab.foundations.files import write_text


class MetricsLog:
    """Append-only log. On resume, lines past the last checkpointed epoch are dropped: the kept
    rows are written to a new file renamed over the old one, so a kill mid-rewrite loses none."""

    def __init__(self, path, keep_rows: int = 0):
        self.path = Path(path)
        rows = read_rows(self.path)[:keep_rows]
        write_text(self.path, "".join(json.dumps(r) + "\n" for r in rows))
        self.rows = rows

    def append(self, row: dict) -> None:
        try:
            with open(self.path, "a") as handle:
                handle.write(json.dumps(row) + "\n")
                handle.flush()
        except OSError as exc:  # a full disk, a folder made read-only: one line, as for other writes
            raise PrunelabError(f"could not write {self.path}: {exc.strerror or exc}") from None
        self.rows.append(row)


MAX_LOG_BYTES = 64 << 20  # a run's metrics are kilobytes; a FIFO or a device is refused, not read


def read_rows(path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    from prunelab.foundations.files import read_regular

    rows = []
    for line in read_regular(path, MAX_LOG_BYTES, "metrics log").splitlines():
        try:
            row = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            break  # a line cut by a crash (or damaged) ends the log
        if not isinstance(row, dict):
            break
        rows.append(row)
    return rows
