"""The smoke sweep, run once per session on a few hundred real MNIST images, and one local Ray
instance (2 CPUs) for the tests here that need Ray."""

import pytest
from sweep_helpers import FEWER_IMAGES, SMOKE, cli, one_torch_thread


@pytest.fixture(scope="session")
def smoke(mnist, tmp_path_factory):
    """experiments/smoke.toml on 300 training and 200 test images, one run at a time on one torch
    thread (--threads 1: without it the runner gives the run every core, and the numbers' last
    digits would depend on the machine's core count; the Ray executor's test compares them)."""
    runs = tmp_path_factory.mktemp("smoke") / "runs"
    with one_torch_thread():
        assert cli("sweep", SMOKE, "--runs-dir", runs, "--jobs", 1, "--threads", 1, *FEWER_IMAGES) == 0
    out = next((runs / "sweeps").iterdir())
    return {"runs": runs, "out": out, "csv": (out / "runs.csv").read_text(), "epochs": (out / "epochs.csv").read_text()}


@pytest.fixture(scope="session")
def ray_here():
    """Ray on this machine with 2 CPUs, shared by every test of the session that needs it."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[test]' brings it)")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
