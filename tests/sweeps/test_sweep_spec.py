"""Sweep files expanded into runs: exact run lists from toy files, and one-line errors."""

from pathlib import Path

import pytest

from prunelab.errors import PrunelabError
from prunelab.runs.pipeline import stage_dir
from prunelab.sweeps.manifest import output_dir
from prunelab.sweeps.spec import load_sweep

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def sweep_file(tmp_path, text: str) -> Path:
    path = tmp_path / "toy.toml"
    path.write_text(text)
    return path


def settings(sweep, *keys):
    """Each run's values of `keys` (dotted), in the sweep's order."""
    def value(config, key):
        for part in key.split("."):
            config = getattr(config, part)
        return config
    return [tuple(value(c, k) for k in keys) for c in sweep.configs]


def test_grid_is_the_cartesian_product_in_file_order(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path, """
[base]
train.epochs = 3
[base.prune]
method = "course"
[grid]
"prune.sparsity" = [0.5, 0.9]
seed = [0, 1, 2]
"""))
    assert sweep.name == "toy" and sweep.stop == "pruned"
    assert settings(sweep, "prune.sparsity", "seed") == [(0.5, 0), (0.5, 1), (0.5, 2), (0.9, 0), (0.9, 1), (0.9, 2)]
    assert {(c.train.epochs, c.prune.method) for c in sweep.configs} == {(3, "course")}


def test_runs_entries_with_their_own_grids_times_the_top_grid(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path, """
stop = "all"
[grid]
seed = [0, 1]
[[runs]]
prune.sparsity = 0.8
[[runs]]
prune.epochs = 7
[runs.grid]
prune.backend = ["prunelab", "torch"]
"""))
    assert sweep.stop == "all"
    assert settings(sweep, "seed", "prune.sparsity", "prune.epochs", "prune.backend") == [
        (0, 0.8, 4, "prunelab"), (1, 0.8, 4, "prunelab"),
        (0, 0.9, 7, "prunelab"), (0, 0.9, 7, "torch"), (1, 0.9, 7, "prunelab"), (1, 0.9, 7, "torch")]


def test_base_from_a_run_config_file_repeats_dropped_and_overrides_applied(tmp_path):
    (tmp_path / "run.toml").write_text('model = "lenet-300-100"\n[train]\nlr = 0.02\n')
    sweep = load_sweep(sweep_file(tmp_path, """
base = "run.toml"
[[runs]]
seed = 1
[[runs]]
seed = 1
[[runs]]
seed = 2
"""), overrides={"data.train_limit": "500"})
    assert settings(sweep, "model", "train.lr", "seed", "data.train_limit") == [
        ("lenet-300-100", 0.02, 1, 500), ("lenet-300-100", 0.02, 2, 500)]
    assert output_dir(sweep, tmp_path).name.startswith("toy-")
    assert output_dir(load_sweep(tmp_path / "toy.toml"), tmp_path) == tmp_path / "sweeps" / "toy"


@pytest.mark.parametrize("text,message", [
    ('[grid]\n"prune.sparsty" = [0.5]', "unknown setting 'prune.sparsty'"),
    ('[grid]\n"prune.sparsity" = 0.5', "needs a non-empty list"),
    ('[grid]\nseed = []', "needs a non-empty list"),
    ('[base]\nlearning_rate = 0.1', "unknown setting 'learning_rate'"),
    ('[grid]\n"prune.sparsity" = [0.5, 1.0]', "sparsity must be in [0, 1)"),
    ('[grid]\n"train.lr" = ["fast"]', "needs a float"),
    ('[grids]\nseed = [0]', "unknown key(s) grids"),
    ('stop = "quantized"', "stop must be one of"),
    ('[grid]\nseed = [0]\n[[runs]]\nseed = 1', "sets seed twice"),
    ('base = "missing.toml"', "does not exist"),
    ('[grid\nseed = [0]', "not valid TOML"),
    ('[grid]\nmodel = ["lenet6"]', "unknown model 'lenet6'"),
])
def test_mistakes_in_a_sweep_file_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(PrunelabError) as error:
        load_sweep(sweep_file(tmp_path, text))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_missing_sweep_file_is_named():
    with pytest.raises(PrunelabError, match="sweep file nowhere.toml does not exist"):
        load_sweep("nowhere.toml")


@pytest.mark.parametrize("name,runs,dense_models", [("smoke", 6, 1), ("seed-paper", 78, 5), ("han2015", 12, 6)])
def test_shipped_presets_expand_to_the_runs_their_comments_promise(name, runs, dense_models):
    sweep = load_sweep(EXPERIMENTS / f"{name}.toml")
    assert len(sweep.configs) == runs
    assert len({stage_dir(c, "runs", "dense") for c in sweep.configs}) == dense_models


def test_seed_paper_covers_the_course_projects_sparsities_and_settings():
    sweep = load_sweep(EXPERIMENTS / "seed-paper.toml")
    assert {c.prune.sparsity for c in sweep.configs} == {0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99}
    assert {c.prune.epochs for c in sweep.configs} == {5, 20, 60}
    assert {c.train.lr for c in sweep.configs} == {0.005, 0.01, 0.05}
    assert {(c.prune.method, c.prune.backend) for c in sweep.configs} == {
        ("course", "prunelab"), ("magnitude", "prunelab"), ("magnitude", "torch")}
    assert {(c.train.batch_size, c.train.momentum, c.prune.momentum) for c in sweep.configs} == {(128, 0.5, 0.5)}


def test_a_huge_grid_is_refused_before_it_is_expanded(tmp_path):
    import time

    from prunelab.sweeps.spec import parse_sweep

    grid = {"seed": list(range(100)), "prune.sparsity": [i / 1000 for i in range(100)],
            "train.epochs": list(range(1, 101))}  # 10^6 points
    began = time.perf_counter()
    with pytest.raises(PrunelabError, match=r"asks for 1,000,000 runs, more than the limit of 1,000; "
                                            r"give --max-runs 1000000 to make them"):
        parse_sweep({"grid": grid}, tmp_path / "huge.toml", {})
    assert time.perf_counter() - began < 1.0
    small = {"seed": [0, 1, 2]}
    assert len(parse_sweep({"grid": small, "runs": [{}, {"grid": {"train.epochs": [1, 2]}}]}, tmp_path / "s.toml", {},
                           max_runs=9).configs) == 9
    with pytest.raises(PrunelabError, match="asks for 9 runs"):
        parse_sweep({"grid": small, "runs": [{}, {"grid": {"train.epochs": [1, 2]}}]}, tmp_path / "s.toml", {}, max_runs=8)


def sweep_files():
    """Every sweep file shipped under experiments/ (run configs name a model; sweeps do not)."""
    from prunelab.runs.config import read_toml

    return sorted(p for p in EXPERIMENTS.rglob("*.toml") if "model" not in read_toml(p))


@pytest.mark.parametrize("path", sweep_files(), ids=lambda p: p.stem)
def test_every_shipped_sweep_file_expands_into_valid_runs(path):
    from prunelab.runs.validate import validate

    sweep = load_sweep(path)
    assert sweep.configs
    for config in sweep.configs:
        validate(config)


# round-two curve and per-layer-width sweeps -> the record sweep whose pruned model they quantize anew
ON_A_RECORDS_PRUNED_MODEL = {
    "curve-lenet5-svd": "lenet5-seeds-svd", "curve-lenet5-caffe-units": "lenet5-caffe-units",
    "curve-lenet5-caffe-200": "lenet5-caffe-200", "curve-lenet-300-100-200": "lenet-300-100-200",
    "lenet5-caffe-units-bits": "lenet5-caffe-units", "lenet5-caffe-200-bits": "lenet5-caffe-200",
}


@pytest.mark.parametrize("name, record", ON_A_RECORDS_PRUNED_MODEL.items())
def test_curve_points_reuse_their_records_pruned_model_and_train_no_other(name, record):
    records = EXPERIMENTS / "records"
    curve, base = load_sweep(records / f"{name}.toml"), load_sweep(records / f"{record}.toml")
    seed0 = [c for c in base.configs if c.seed == 0]
    pruned = {stage_dir(c, "runs", "pruned") for c in curve.configs}
    assert pruned == {stage_dir(seed0[0], "runs", "pruned")}
    quantized = [stage_dir(c, "runs", "quantized") for c in curve.configs]
    assert len(set(quantized)) == len(quantized)  # every point is a file of its own
    if name.startswith("curve-"):  # the first point is the record's own file
        assert quantized[0] == stage_dir(seed0[0], "runs", "quantized")
