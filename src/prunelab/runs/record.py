"""What a finished stage records about itself: the code version that made it and its files' checksums.

A stage directory is named by its settings, so without a record a stage written by older code
(an older file format, say) is reused under the same name, and a hand-edited result.json or a
swapped model file is served as fact. result.json therefore carries a `record`:

    {"stage": "quantized", "version": 3, "result_sha256": ..., "files": {"model.plc": sha256, ...}}

`version` changes whenever the stage's output would; `result_sha256` covers the result's other
values. A stage whose record is missing or does not match is treated as unfinished and computed
again; a file handed out on its own (`verified_file`) is refused instead.
"""

import hashlib
import json
from pathlib import Path

from prunelab.compression import format_v3
from prunelab.errors import PrunelabError
from prunelab.foundations.files import write_json

RESULT = "result.json"
# Bump a stage's number when its output for the same settings would change.
VERSIONS = {"dense": 1, "pruned": 1, "quantized": 100 + format_v3.VERSION}  # quantized: the file format's
LEFT_OUT = ("checkpoint.pt", "retrain.pt")  # per-epoch state, deleted when the stage ends


def stage_kind(stage_dir: Path) -> str:
    """"dense-0a1b..." -> "dense"."""
    return Path(stage_dir).name.split("-")[0]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_value(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def recorded_files(stage_dir: Path) -> list[Path]:
    return sorted(p for p in Path(stage_dir).iterdir() if p.is_file() and p.name != RESULT
                  and p.name not in LEFT_OUT and not p.name.endswith(".tmp"))


def write_result(stage_dir, result: dict, inputs=()) -> None:
    """result.json with the stage's record: call it last, when every other file is in place.
    `inputs`: the earlier stage directories it was computed from (siblings of this one); if one of
    them is computed again later, this stage no longer matches it."""
    stage_dir = Path(stage_dir)
    record = {"stage": stage_kind(stage_dir), "version": VERSIONS.get(stage_kind(stage_dir), 1),
              "result_sha256": sha256_value(result),
              "files": {p.name: sha256_file(p) for p in recorded_files(stage_dir)},
              "inputs": {Path(d).name: sha256_file(Path(d) / RESULT) for d in inputs}}
    write_json(stage_dir / RESULT, {**result, "record": record})


def check(stage_dir) -> tuple[dict | None, str | None]:
    """(result, None) for a stage that is finished and intact; (None, why) for one that must be
    computed again; (None, None) for one that never finished."""
    stage_dir = Path(stage_dir).resolve()  # a run's link to it: the siblings are the stage's
    path = stage_dir / RESULT
    if not path.is_file():
        return None, None
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None, f"{path} is damaged"
    if not isinstance(value, dict) or not isinstance(value.get("record"), dict):
        return None, f"{path} has no record of the code that made it"
    record = value.pop("record")
    kind = stage_kind(stage_dir)
    if record.get("version") != VERSIONS.get(kind, 1):
        return None, f"{path} was made by {kind} stage version {record.get('version')}, this code makes {VERSIONS.get(kind, 1)}"
    if record.get("result_sha256") != sha256_value(value):
        return None, f"{path} was edited after the stage finished (its checksum does not match)"
    files = record.get("files")
    if not isinstance(files, dict):
        return None, f"{path} has no file checksums"
    for name, digest in files.items():
        problem = file_problem(stage_dir, name, digest)
        if problem:
            return None, problem
    for name, digest in (record.get("inputs") or {}).items():
        source = stage_dir.parent / str(name) / RESULT
        if not source.is_file() or sha256_file(source) != digest:
            return None, f"{path} was computed from an earlier {name} than the one there now"
    return value, None


def file_problem(stage_dir: Path, name: str, digest) -> str | None:
    path = stage_dir / str(name)
    if Path(str(name)).name != name or not path.is_file():
        return f"{path} is missing"
    if sha256_file(path) != digest:
        return f"{path} differs from the file the stage wrote (checksum mismatch)"
    return None


def verified_file(stage_dir, name: str) -> Path:
    """A stage's file, only if the stage is finished and the file is the one it wrote."""
    result, problem = check(stage_dir)
    if result is None:
        raise PrunelabError(problem or f"{Path(stage_dir) / RESULT} does not exist: the stage has not finished")
    if name not in json.loads((Path(stage_dir) / RESULT).read_text())["record"]["files"]:
        raise PrunelabError(f"{Path(stage_dir) / name} is not one of the files the stage recorded")
    return Path(stage_dir) / name


def start_over(stage_dir) -> None:
    """Before a stage is computed: a stale stage's files all go (a fresh start, nothing of the old
    code reused); an interrupted one keeps its checkpoint but loses temporary files cut short. A
    stage folder that is a symbolic link is replaced by an empty folder, its target left alone."""
    stage_dir = Path(stage_dir)
    if stage_dir.is_symlink():  # never delete through a link: whatever it points to is not ours
        stage_dir.unlink()
        stage_dir.mkdir()
        return
    if not stage_dir.is_dir():
        return
    stale = (stage_dir / RESULT).exists()
    for path in stage_dir.iterdir():
        if path.is_file() and (stale or path.name.endswith(".tmp")):
            path.unlink(missing_ok=True)
