"""metrics.jsonl: rewritten atomically on resume, and a failed append is one line, not a traceback."""

import json
from pathlib import Path

import pytest

from prunelab.errors import PrunelabError
from prunelab.training import metrics
from prunelab.training.metrics import MetricsLog, read_rows


def three_rows(path: Path) -> list[dict]:
    rows = [{"epoch": i + 1, "train_loss": 1.0 / (i + 1)} for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def test_a_kill_while_resuming_loses_no_rows(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    rows = three_rows(path)
    real, calls = json.dumps, {"n": 0}

    def killed_on_the_second_row(value, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # as a kill would, half way through the rewrite
        return real(value, *args, **kwargs)

    monkeypatch.setattr(metrics.json, "dumps", killed_on_the_second_row)
    with pytest.raises(KeyboardInterrupt):
        MetricsLog(path, keep_rows=3)
    monkeypatch.undo()
    assert read_rows(path) == rows
    assert not list(tmp_path.glob("*.tmp"))


def test_resuming_keeps_the_checkpointed_rows_only(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = three_rows(path)
    log = MetricsLog(path, keep_rows=2)
    log.append({"epoch": 3, "train_loss": 0.1})
    assert read_rows(path) == rows[:2] + [{"epoch": 3, "train_loss": 0.1}]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_during_an_append_is_one_line(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.path = Path("/dev/full")  # every write there fails with ENOSPC, as on a full disk
    with pytest.raises(PrunelabError, match=r"could not write /dev/full: No space left on device"):
        log.append({"epoch": 1})
