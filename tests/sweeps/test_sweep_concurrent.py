"""Two sweeps or collections over the same folders at once: both finish, the tables are whole, and
each counts only what it trained itself."""

import re
import sqlite3
import threading
import time

import pytest

from sweep_helpers import PAIR, cli, fake_run

from prunelab.runs.pipeline import stage_dir, stage_lock
from prunelab.sweeps.collect import collect
from prunelab.sweeps.spec import load_sweep


def test_two_collections_at_once_both_write_a_whole_database(tmp_path):
    runs = [fake_run(tmp_path / "runs", [0.9, 0.95], **{"prune__sparsity": s}) for s in (0.5, 0.7, 0.9)]
    out, errors = tmp_path / "tables", []

    def collect_often():
        for _ in range(15):
            try:
                collect(runs, "pruned", out)
            except Exception as exc:  # what the fixed temporary name gave: disk I/O error, missing file
                errors.append(exc)

    threads = [threading.Thread(target=collect_often) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    with sqlite3.connect(out / "results.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone() == (3,)
    assert not list(out.glob("*.tmp"))


def test_two_sweeps_at_once_count_only_what_each_trained(mnist, tmp_path, capsys):
    sweep_file = tmp_path / "pair.toml"
    sweep_file.write_text(PAIR)
    runs = tmp_path / "runs"
    dense = stage_dir(load_sweep(sweep_file).configs[0], runs, "dense")
    codes = []

    def sweep():
        codes.append(cli("sweep", sweep_file, "--runs-dir", runs, "--jobs", 1, "--threads", 1))

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    with stage_lock(dense):  # both sweeps start and wait for the same dense model: they overlap
        for thread in threads:
            thread.start()
        time.sleep(1.0)
    for thread in threads:
        thread.join(300)
    out = capsys.readouterr().out
    assert codes == [0, 0]
    trained = {noun: sum(int(n) for n in re.findall(rf"{noun}s? \((\d+) trained now", out))
               for noun in ("dense model", "pruned model")}
    assert trained == {"dense model": 1, "pruned model": 2}  # each stage once, by one of the two
    assert out.count("collected 2 finished of 2 runs") == 2
    table = next((runs / "sweeps").iterdir()) / "results.sqlite"
    with sqlite3.connect(table) as db:
        assert db.execute("SELECT COUNT(*) FROM runs WHERE status = 'finished'").fetchone() == (2,)


def test_a_cut_summary_is_a_damaged_run_in_the_table_and_a_named_file_in_reports(tmp_path):
    from prunelab.errors import PrunelabError
    from prunelab.reporting.base import load_record

    good = fake_run(tmp_path / "runs", [0.9, 0.95])
    cut = fake_run(tmp_path / "runs", [0.9, 0.95], **{"prune__sparsity": 0.5})
    (cut / "summary.json").write_text('{"model": "lenet5", "dense": {"test_acc')
    tables = collect([good, cut], "pruned", tmp_path / "tables")
    assert tables["finished"] == 1 and tables["count"] == 2
    with sqlite3.connect(tmp_path / "tables" / "results.sqlite") as db:
        assert db.execute("SELECT status FROM runs ORDER BY run").fetchall() == [("finished",), ("damaged",)]
    with pytest.raises(PrunelabError, match=rf"summary {cut / 'summary.json'} is damaged"):
        load_record(cut)
