"""Figures named for the split that measured them.

A run evaluates on the test set, or, with ``data.validation``, on the held-out end of the training
set. Its summary.json says which (``evaluated_on``) and files each stage's figures under that
name: ``test_accuracy``, ``test_errors``, ``test_loss``, or ``validation_accuracy``, ... The
sweep tables (runs.csv, epochs.csv) and the report use the same names. ``final_test`` (the test
set, once, after choosing on validation) is always ``test_``.

Underneath, ``training.loop.evaluate`` returns ``test_*`` keys for whatever split it is given,
and a stage's own files (result.json, metrics.jsonl) keep them: they are the stage's working
records, which finished stages must keep matching. Summaries written before this naming filed
validation figures as ``test_`` as well; ``name_by_split`` renames those on reading, so older
summary.json files read the same as new ones.
"""

SECTIONS = ("dense", "pruned", "compressed")  # the summary's parts measured on the run's split
INSIDE = ("before_finetuning", "retrained")  # parts of "compressed", measured on it too


def by_split(figures: dict, split: str) -> dict:
    """evaluate()'s ``test_*`` keys renamed ``<split>_*``; other keys, and any test split, as they are."""
    if split == "test":
        return dict(figures)
    return {f"{split}_{key[len('test_'):]}" if key.startswith("test_") else key: value
            for key, value in figures.items()}


def name_by_split(summary: dict) -> dict:
    """A summary with its stage figures named for ``evaluated_on``; a new summary comes back equal."""
    split = summary.get("evaluated_on", "test")
    named = dict(summary)
    for section in SECTIONS:
        if isinstance(named.get(section), dict):
            named[section] = by_split(named[section], split)
            for part in INSIDE:
                if isinstance(named[section].get(part), dict):
                    named[section][part] = by_split(named[section][part], split)
    return named


def figure(summary: dict, section: str, what: str = "accuracy"):
    """One stage's figure on the run's split, e.g. figure(summary, "pruned") -> its accuracy."""
    return name_by_split(summary)[section][f"{summary.get('evaluated_on', 'test')}_{what}"]
