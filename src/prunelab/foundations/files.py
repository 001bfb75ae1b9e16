"""Atomic file writing: write to a temporary file in the same folder, fsync, then rename.

A crash or a full disk mid-write leaves the old file (or no file), never a truncated one.
"""

import contextlib
import errno
import json
import os
import stat
import tempfile
from pathlib import Path

from prunelab.errors import PrunelabError

try:
    import fcntl
except ImportError:  # POSIX only; elsewhere processes must not share a folder at once
    fcntl = None


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Yield a file object; on clean exit the file replaces ``path`` in one rename."""
    path = Path(path)
    try:  # a read-only or full folder fails here already
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise PrunelabError(f"could not write {path}: {exc.strerror or exc}") from None
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a result file should be readable like any other
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(tmp)
        raise PrunelabError(f"could not write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        _remove_quietly(tmp)
        raise


def write_bytes(path, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def write_together(files: dict) -> None:
    """Write every {path: bytes} to a temporary file first, then rename them all: a full disk
    leaves none of them new, never one without the other (a C header without its source)."""
    ready = []
    try:
        for path, data in files.items():
            path = Path(path)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            except OSError as exc:
                raise PrunelabError(f"could not write {path}: {exc.strerror or exc}") from None
            ready.append((tmp, path))
            try:
                os.chmod(tmp, 0o644)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as exc:
                raise PrunelabError(f"could not write {path}: {exc.strerror or exc}") from None
        for tmp, path in ready:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in ready:
            _remove_quietly(tmp)
        raise


def write_text(path, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_text_if_changed(path, text: str) -> None:
    """Write only when the content differs: showing a finished run again needs no writes (and so
    works in a read-only folder)."""
    path = Path(path)
    try:
        if path.is_file() and path.read_text() == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    write_text(path, text)


def make_dir(path) -> Path:
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PrunelabError(f"could not create folder {path}: {exc.strerror or exc}") from None
    return path


def write_json(path, value) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=False) + "\n")


def read_regular(path, limit: int, what: str = "file") -> bytes:
    """A regular file's bytes, at most `limit` of them. A FIFO (which would block), a device such as
    /dev/zero (which never ends) or a folder is refused by what it is, not read."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # opening a FIFO must not wait
    except OSError as exc:
        raise PrunelabError(f"could not read {path}: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode  # before fdopen, which refuses a folder naming only the descriptor
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or other special file"
        raise PrunelabError(f"{path} is {kind}, not a regular file")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise PrunelabError(f"could not read {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise PrunelabError(f"{path} is larger than a {what} can be ({limit:,} bytes at most)")
    return data


MAX_JSON_BYTES = 64 << 20  # records and summaries are kilobytes


def read_json_file(path, what: str = "file"):
    """A JSON file's value; None when it does not exist; a one-line error naming a damaged one."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return json.loads(read_regular(path, MAX_JSON_BYTES, what).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "cut short or not JSON"
        raise PrunelabError(f"{what} {path} is damaged ({reason}); delete it and rerun the run") from None


def _remove_quietly(path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


# What flock raises on a filesystem without working locks: NFS mounted without a lock manager
# (ENOLCK), some FUSE, SMB and object-store mounts (EOPNOTSUPP, ENOSYS).
NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS}


@contextlib.contextmanager
def exclusive_lock(path, on_wait=None, read_only_ok: bool = False):
    """Hold an exclusive flock on `path` (created if needed) for the block; `on_wait()` is called
    once when another process holds it. The lock goes with the file, so a killed holder frees it.

    The block gets None. With `read_only_ok`, a lock file that cannot be created because its folder
    cannot be written gives the block that error instead of raising it: the block may read there
    unlocked (a folder this process cannot write is one it cannot race to rewrite) and raises it
    before it would write."""
    if fcntl is None:
        yield None
        return
    path, refused = Path(path), None
    try:
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)  # an existing lock opens on a read-only mount too
    except OSError as exc:
        refused = PrunelabError(f"could not create lock file {path}: {exc.strerror or exc}")
        if not (read_only_ok and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)):
            raise refused from None
    if refused is not None:
        yield refused
        return
    with os.fdopen(fd, "rb") as handle:
        try:
            _flock(handle, path, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            _flock(handle, path, fcntl.LOCK_EX)
        yield None


def _flock(handle, path: Path, operation: int) -> None:
    try:
        fcntl.flock(handle, operation)
    except BlockingIOError:
        raise
    except OSError as exc:
        if exc.errno in NO_LOCKS:
            raise PrunelabError(f"the filesystem of {path.parent} refuses file locks (flock: {exc.strerror or exc}): "
                                f"use a runs directory on one that has them, or on a cluster "
                                f"`prunelab sweep --executor ray --no-file-locks` (docs/cluster.md)") from None
        raise PrunelabError(f"could not lock {path}: {exc.strerror or exc}") from None
