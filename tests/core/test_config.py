import pytest

from prunelab.errors import PrunelabError
from prunelab.runs.config import RunConfig, load_toml, non_default, set_value, settings_hash, stage_settings, to_toml


def test_defaults_are_the_course_projects():
    config = RunConfig()
    assert (config.train.batch_size, config.train.lr, config.train.momentum) == (128, 0.01, 0.5)


def test_toml_round_trip(tmp_path):
    config = RunConfig()
    set_value(config, "prune.sparsity", "0.95")
    set_value(config, "train.epochs", "3")
    (tmp_path / "c.toml").write_text(to_toml(config))
    assert load_toml(tmp_path / "c.toml") == config


def test_directory_names_are_pinned_so_reruns_find_their_output(tmp_path):
    # if these change, every existing run directory stops being found: change them on purpose only
    from prunelab.runs.pipeline import run_dir, stage_dir

    assert settings_hash({"a": 1, "b": [1, 2]}) == "8baa73198470"
    config = RunConfig()
    assert stage_dir(config, tmp_path, "dense").name == f"dense-{settings_hash({})}"
    set_value(config, "train.epochs", 3)
    assert stage_dir(config, tmp_path, "dense").name == f"dense-{settings_hash({'train': {'epochs': 3}})}"
    assert run_dir(config, tmp_path).name == f"lenet5-{settings_hash({'train': {'epochs': 3}})}"


def test_only_settings_that_differ_from_the_defaults_name_a_directory():
    defaults = {"a": 1, "t": {"x": 1, "y": 2}}
    assert non_default({"a": 1, "t": {"x": 1, "y": 2}}, defaults) == {}
    assert non_default({"a": 2, "t": {"x": 1, "y": 3}, "new": 0}, defaults) == {"a": 2, "t": {"y": 3}, "new": 0}


def test_stages_share_what_they_depend_on():
    a, b = RunConfig(), RunConfig()
    set_value(b, "prune.sparsity", 0.5)
    assert stage_settings(a, "dense") == stage_settings(b, "dense")
    assert stage_settings(a, "pruned") != stage_settings(b, "pruned")


@pytest.mark.parametrize("key,value,message", [
    ("train.epochz", "3", "unknown setting"),
    ("train.epochs", "three", "needs a int"),
    ("prune.sparsity", True, "needs a float"),
    ("train", "3", "unknown setting"),
])
def test_bad_settings_are_refused(key, value, message):
    with pytest.raises(PrunelabError, match=message):
        set_value(RunConfig(), key, value)


def test_broken_toml_is_a_clear_error(tmp_path):
    (tmp_path / "c.toml").write_text("model = \n")
    with pytest.raises(PrunelabError, match="not valid TOML"):
        load_toml(tmp_path / "c.toml")
