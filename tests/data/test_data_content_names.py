"""Stages and runs follow the data's content: the same data from another folder shares them, other
data (through a folder) gets its own, and the published dataset read from a folder is the cache's."""

import os
from pathlib import Path

import pytest
from data_helpers import random_splits, write_idx_folder

from prunelab.data.published import PUBLISHED_MD5, idx_md5s
from prunelab.data.splits import STANDARD_COUNTS
from prunelab.runs.config import RunConfig, set_value, settings_hash
from prunelab.runs.pipeline import run_name, stage_dir


def config_reading(folder) -> RunConfig:
    config = RunConfig()
    if folder is not None:
        set_value(config, "data.data_dir", str(folder))
    return config


@pytest.fixture(scope="module")
def full_size_folders(tmp_path_factory):
    """One full-size folder of made-up data, the same files linked into a second folder."""
    root = tmp_path_factory.mktemp("content")
    first = write_idx_folder(root / "first", random_splits(STANDARD_COUNTS))
    (root / "second").mkdir()
    for path in first.iterdir():
        os.link(path, root / "second" / path.name)
    return first, root / "second"


def test_the_same_data_in_two_folders_shares_its_stages(full_size_folders, tmp_path):
    first, second = full_size_folders
    names = {stage_dir(config_reading(f), tmp_path, "dense").name for f in (first, second)}
    assert len(names) == 1
    assert names != {stage_dir(config_reading(None), tmp_path, "dense").name}


def test_the_published_data_from_a_folder_shares_the_caches_stages(full_size_folders, tmp_path, monkeypatch):
    first, _ = full_size_folders
    monkeypatch.setitem(PUBLISHED_MD5, "mnist", idx_md5s(random_splits(STANDARD_COUNTS)))
    assert stage_dir(config_reading(first), tmp_path, "pruned") == stage_dir(config_reading(None), tmp_path, "pruned")


def test_the_same_data_in_two_folders_is_one_run_named_by_its_content(full_size_folders):
    first, second = full_size_folders
    names = {run_name(config_reading(f)) for f in (first, second)}
    content = random_splits(STANDARD_COUNTS).sha256()
    assert names == {f"lenet5-{settings_hash({'data': {'content': content}})}"}
    assert names != {run_name(config_reading(None))}


def test_the_published_data_from_a_folder_is_the_caches_run(full_size_folders, monkeypatch):
    first, _ = full_size_folders
    monkeypatch.setitem(PUBLISHED_MD5, "mnist", idx_md5s(random_splits(STANDARD_COUNTS)))
    assert run_name(config_reading(first)) == run_name(config_reading(None)) == f"lenet5-{settings_hash({})}"


def test_the_same_data_from_another_folder_reuses_the_run_without_rewriting_its_settings(full_size_folders, tmp_path):
    from prunelab.runs.pipeline import execute

    def run(folder):
        config = config_reading(folder)
        for key, value in {"data.train_limit": 100, "data.test_limit": 50, "train.epochs": 1}.items():
            set_value(config, key, value)
        return execute(config, tmp_path / "runs", log=lambda m: None, stop="dense")

    first, second = full_size_folders
    settings = Path(run(first)["run_dir"]) / "config.toml"
    written = settings.read_text(), settings.stat().st_mtime_ns
    again = run(second)
    assert Path(again["run_dir"]) == settings.parent and again["trained"] == []
    assert (settings.read_text(), settings.stat().st_mtime_ns) == written and str(first) in written[0]
