"""Per-epoch metrics appended to a JSON-lines file as they happen (one JSON object a line)."""

import json
from pathlib import Path


class MetricsLog:
    """Append-only log. On resume, lines past the last checkpointed epoch are dropped."""

    def __init__(self, path, keep_rows: int = 0):
        self.path = Path(path)
        rows = read_rows(self.path)[:keep_rows]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in rows)
        self.rows = rows

    def append(self, row: dict) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
        self.rows.append(row)


def read_rows(path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line cut by a crash ends the log
    return rows
