"""The README's "From Python" example runs as printed, on a tiny .npz, and its outputs agree."""

from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("<!-- python-example -->", 1)[1].split("```python\n", 1)[1].split("\n```", 1)[0]


def test_the_example_is_at_most_25_lines():
    assert len(readme_example().splitlines()) <= 25


def test_the_readme_example_prunes_saves_reloads_and_exports(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "images.npz", x_train=rng.integers(0, 256, (96, 3, 32, 32), dtype=np.uint8),
             y_train=rng.integers(0, 10, 96), x_test=rng.integers(0, 256, (32, 3, 32, 32), dtype=np.uint8),
             y_test=rng.integers(0, 10, 32))
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    scope = {"__name__": "readme_example"}
    exec(compile(readme_example(), "README.md", "exec"), scope)
    assert "sparsity 0.9" in capsys.readouterr().out
    restored, model = scope["restored"], scope["model"].eval()
    x = torch.rand(8, 3, 32, 32)
    # the file holds the compact model: a dead unit's constant output is folded into the next bias
    torch.testing.assert_close(restored(x), model(x), atol=1e-5, rtol=0)
    import onnxruntime

    session = onnxruntime.InferenceSession("small_cnn.onnx", providers=["CPUExecutionProvider"])
    scores = session.run(["scores"], {"pixels": x.numpy()})[0]
    np.testing.assert_allclose(scores, model(x).detach().numpy(), atol=1e-5)
    assert {p.name for p in (tmp_path / "small_cnn_c").iterdir()} == {"small_cnn.h", "small_cnn.c"}
    assert "input [3, 32, 32]" in (tmp_path / "small_cnn_c" / "small_cnn.h").read_text()
