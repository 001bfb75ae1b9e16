"""`prunelab sensitivity` on a run that trained on every training image says it scores on seen
images, and the setting it prints works under `run`'s preset (whose method is global)."""

import torch

from prunelab import models
from prunelab.cli.main import main, parser
from prunelab.cli.settings import build_config
from prunelab.runs import checkpoint
from prunelab.runs.config import RunConfig, to_toml


def test_a_full_training_run_is_scanned_with_a_warning_and_a_usable_setting(mnist, tmp_path, capsys):
    run = tmp_path / "lenet5-full"
    (run / "dense").mkdir(parents=True)
    (run / "config.toml").write_text(to_toml(RunConfig()))  # all 60,000 images, no validation split
    torch.manual_seed(0)
    checkpoint.save(run / "dense" / "model.pt", models.build("lenet5").state_dict())
    assert main(["sensitivity", str(run), "--levels", "0.5"]) == 0
    captured = capsys.readouterr()
    assert "trained on all training images" in captured.err
    assert "which this run trained on: optimistic" in captured.out
    setting = captured.out.strip().splitlines()[-1].removeprefix("use: ").split()
    assert setting[:2] == ["--method", "magnitude"]
    config = build_config(parser().parse_args(["run", *setting]))  # the preset's checks pass
    assert config.prune.method == "magnitude" and config.prune.layers.startswith("conv1=")
