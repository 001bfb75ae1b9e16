"""A figure measured on the validation split is named for it (validation_accuracy, not
test_accuracy) in every table and report, also when read from a summary.json written before
that naming, which filed it under test_ with evaluated_on = "validation"."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from sweep_helpers import cli, fake_run

from prunelab.runs.measured import by_split, figure, name_by_split
from prunelab.sweeps.collect import collect


def test_figures_are_renamed_for_a_validation_split_and_left_alone_for_the_test_set():
    row = {"train_loss": 0.5, "test_loss": 0.25, "test_accuracy": 0.9, "test_errors": 10, "test_seconds": 0.1}
    assert by_split(row, "test") == row
    assert by_split(row, "validation") == {"train_loss": 0.5, "validation_loss": 0.25, "validation_accuracy": 0.9,
                                           "validation_errors": 10, "validation_seconds": 0.1}
    old = {"evaluated_on": "validation", "dense": {"test_accuracy": 0.9, "weights_total": 5},
           "compressed": {"test_accuracy": 0.8, "before_finetuning": {"test_accuracy": 0.7}},
           "final_test": {"dense": {"test_accuracy": 0.85}}}
    new = name_by_split(old)
    assert new == {"evaluated_on": "validation", "dense": {"validation_accuracy": 0.9, "weights_total": 5},
                   "compressed": {"validation_accuracy": 0.8, "before_finetuning": {"validation_accuracy": 0.7}},
                   "final_test": {"dense": {"test_accuracy": 0.85}}}  # the test set's figures keep their name
    assert name_by_split(new) == new and figure(old, "compressed") == 0.8
    assert old["dense"] == {"test_accuracy": 0.9, "weights_total": 5}  # the summary read is not changed


def table(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_the_sweep_tables_name_an_old_validation_summary_for_its_split(tmp_path):
    runs = tmp_path / "runs"
    on_validation = fake_run(runs, [0.91, 0.92], data__validation=True)
    on_test = fake_run(runs, [0.97, 0.98])
    tables = collect([on_validation, on_test], "pruned", tmp_path / "tables")
    rows = {row["run"]: row for row in table(tables["runs"])}
    assert rows[on_validation.name]["pruned_validation_accuracy"] == "0.92"
    assert rows[on_validation.name]["pruned_test_accuracy"] == ""
    assert rows[on_test.name]["pruned_test_accuracy"] == "0.98" and rows[on_test.name]["pruned_validation_accuracy"] == ""
    epochs = table(tables["epochs"])
    assert [(r["validation_accuracy"], r["test_accuracy"]) for r in epochs if r["run"] == on_validation.name] \
        == [("0.91", ""), ("0.92", "")]
    # a summary written with the new names gives the same row
    summary = json.loads((on_validation / "summary.json").read_text())
    (on_validation / "summary.json").write_text(json.dumps(name_by_split(summary)))
    again = {row["run"]: row for row in table(collect([on_validation, on_test], "pruned", tmp_path / "again")["runs"])}
    assert again == rows


def test_the_report_says_which_split_measured_what(tmp_path):
    runs = tmp_path / "runs"
    for sparsity in (0.5, 0.9):
        fake_run(runs, [0.91, 0.92], prune__sparsity=sparsity, data__validation=True)
    assert cli("report", runs, "--output", tmp_path / "report") == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| 92.00 (validation) |" in text and "Accuracies marked (validation)" in text
    assert "Final training / validation loss per sparsity" in text and "test loss" not in text
    assert "Correct validation images of 1,000 per sparsity" in text


ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_summaries_read_the_same_in_either_naming(tmp_path):
    """results/ holds summaries written before the split had its name (test_accuracy for either
    split) and after; the records table (experiments/records/summarize.py) is the same from them
    and from their renamed copies."""
    folders = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "results").glob("records-*") if p.is_dir())
    summaries = sorted((ROOT / "results").glob("**/summary.json"))
    assert any(json.loads(p.read_text())["evaluated_on"] == "validation" for p in summaries)
    for path in (ROOT / "results").glob("records-*/**/*.*"):  # a renamed copy of the records folders
        if path.suffix not in (".json", ".txt"):
            continue
        copy = tmp_path / path.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        value = path.read_text()
        copy.write_text(json.dumps(name_by_split(json.loads(value))) if path.name == "summary.json" else value)
    for path in summaries:
        summary = json.loads(path.read_text())
        split = summary["evaluated_on"]
        stored = summary["pruned"].get(f"{split}_accuracy", summary["pruned"].get("test_accuracy"))
        assert figure(summary, "pruned") == stored  # under the new name, or what the old name held
        assert f"{split}_accuracy" in name_by_split(summary)["dense"]
    assert any("validation_accuracy" in json.loads(p.read_text())["pruned"] for p in summaries)  # both kinds
    assert any("validation_accuracy" not in json.loads(p.read_text())["pruned"] for p in summaries)
    script = [sys.executable, str(ROOT / "experiments" / "records" / "summarize.py")]
    old = subprocess.run([*script, *folders], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    new = subprocess.run([*script, *folders], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert old == new and "| lenet5-caffe |" in old
