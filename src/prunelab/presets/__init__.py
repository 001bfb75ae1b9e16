"""Settings files shipped with the package (`prunelab run` uses main.toml)."""

from importlib import resources

from prunelab.errors import PrunelabError


def path(name: str):
    found = resources.files(__name__) / f"{name}.toml"
    if not found.is_file():
        raise PrunelabError(f"unknown preset '{name}'")
    return found
