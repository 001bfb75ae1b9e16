"""What a newcomer meets on the command line: flags that would be ignored are refused, a
state_dict for another architecture says what differs, run takes --threads."""

import torch

from prunelab import models
from prunelab.cli.main import main


def test_train_refuses_flags_of_later_stages(capsys):
    assert main(["train", "--sparsity", "0.5", "--method", "global"]) == 2
    assert "would ignore --sparsity, --method; use prune or run" in capsys.readouterr().err


def test_a_state_dict_of_another_architecture_names_what_differs(tmp_path, capsys):
    torch.save(models.build("lenet5").state_dict(), tmp_path / "m.pt")
    assert main(["export", str(tmp_path / "m.pt"), "--model", "lenet-300-100", "--format", "onnx",
                 "--output", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "does not fit model lenet-300-100: unexpected conv1.weight" in err
    assert "fc1.weight is (120, 400), the model's (300, 784)" in err
    assert len(err.strip().splitlines()) == 1


def test_run_refuses_zero_threads(capsys):
    assert main(["run", "--threads", "0"]) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err
