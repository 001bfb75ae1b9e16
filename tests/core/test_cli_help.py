"""The command line's help lists what a flag takes, and a misspelt flag gets the nearest real one."""

import pytest

from prunelab import data, methods, models
from prunelab.cli.main import main
from prunelab.cli.settings import CHOICES
from prunelab.runs.validate import CHOICES as SETTING_CHOICES


def test_the_listed_choices_are_the_registries():
    assert CHOICES["model"] == (*models.REGISTRY, "MODULE:FACTORY")
    assert CHOICES["method"] == tuple(methods.REGISTRY)
    assert CHOICES["dataset"] == (*data.DATASETS, "npz:FILE")
    assert CHOICES["backend"] == SETTING_CHOICES["prune.backend"]
    assert CHOICES["schedule"] == SETTING_CHOICES["prune.schedule"]


def test_run_help_lists_methods_schedules_and_models(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "svd-units" in text and "gradual" in text and "mcu-cnn-deep" in text and "MODULE:FACTORY" in text


def test_a_misspelt_flag_gets_the_nearest_one_and_its_commands_usage(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--sparsty", "0.5"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("usage: prunelab run")
    assert "unrecognized arguments: --sparsty 0.5; did you mean --sparsity?" in err
