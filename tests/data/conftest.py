"""The opt-in ``network`` marker: such tests run only with PRUNELAB_NETWORK_TESTS=1."""

import os

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "network: needs PyPI or the mirrors; runs only with PRUNELAB_NETWORK_TESTS=1")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("PRUNELAB_NETWORK_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="network test; set PRUNELAB_NETWORK_TESTS=1 to run")
    for item in items:
        if "network" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def no_user_cache(tmp_path, monkeypatch):
    """Point the default cache at a temp folder, so no test can read or fill ~/.cache."""
    monkeypatch.setenv("PRUNELAB_DATA_DIR", str(tmp_path / "default-cache"))
