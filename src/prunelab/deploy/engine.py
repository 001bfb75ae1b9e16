"""The host C engine: generated source built by the system C compiler, loaded with ctypes.

A build is cached in ``$PRUNELAB_CACHE_DIR/cengine`` (default ``~/.cache/prunelab/cengine``) under
a name that hashes the source, the compiler's identity and the flags, next to a record of the
library's SHA-256; a cached library is used only when the record matches the bytes on disk,
else it is rebuilt. Libraries are written to a temporary name and renamed.

Flags: ``PORTABLE`` (-O2, standard C99, no contraction of a*b+c into one rounding) gives the
same float results as the generated code on any IEEE machine; ``native`` adds -O3 and
-march=native for timing on this host only. Neither uses -ffast-math, so the lanes of a batch
are computed exactly as one image alone.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from prunelab.deploy import cgen
from prunelab.deploy import graph as g
from prunelab.errors import PrunelabError
from prunelab.foundations.files import write_bytes

PORTABLE = ("-O2", "-std=c99", "-ffp-contract=off", "-fno-fast-math")
NATIVE = ("-O3", "-std=c99", "-ffp-contract=off", "-fno-fast-math", "-march=native")


def compiler() -> str | None:
    """The C compiler to use: $CC, else cc, gcc or clang on PATH; None when there is none."""
    for candidate in filter(None, (os.environ.get("CC"), "cc", "gcc", "clang")):
        found = shutil.which(candidate)
        if found:
            return found
    return None


def cache_dir() -> Path:
    root = os.environ.get("PRUNELAB_CACHE_DIR")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "prunelab") / "cengine"


class Engine:
    """A compact graph compiled for this host; ``scores(images)`` runs it on (N, C, H, W) pixels/255."""

    def __init__(self, graph: g.Graph, weights: str = "float", batch: int = 64, flags=PORTABLE,
                 name: str = "model"):
        header, source = cgen.generate(graph, name, weights=weights, batch=batch)
        self.input_shape = tuple(graph.input_shape)
        self.inputs, self.classes = int(np.prod(graph.input_shape)), int(np.prod(graph.shapes()[-1]))
        self.path = build(name, header, source, tuple(flags))
        library = ctypes.CDLL(str(self.path))
        self._batch = getattr(library, f"{name}_scores_batch")
        self._batch.restype = None
        self._batch.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        self._classify = getattr(library, f"{name}_classify")
        self._classify.restype = ctypes.c_int
        self._classify.argtypes = [ctypes.c_void_p]
        self._library = library

    def scores(self, images: np.ndarray) -> np.ndarray:
        return self.bind(images)()

    def bind(self, images: np.ndarray):
        """A call that runs ``images`` and returns their scores, with the arrays and pointers made
        once: what remains is the C function and one ctypes call (for timing small batches)."""
        pixels = np.ascontiguousarray(images, dtype=np.float32).reshape(len(images), -1)
        if pixels.shape[1] != self.inputs:
            raise PrunelabError(f"the engine takes {self.inputs} values an image, not {pixels.shape[1]}")
        out = np.empty((len(pixels), self.classes), np.float32)
        run, source, target, count = self._batch, pixels.ctypes.data, out.ctypes.data, len(pixels)

        def call():
            run(source, target, count)
            return out

        return call

    def classify(self, image_bytes: np.ndarray) -> int:
        pixels = np.ascontiguousarray(image_bytes, dtype=np.uint8).ravel()
        if pixels.size != self.inputs:
            raise PrunelabError(f"the engine takes {self.inputs} bytes an image, not {pixels.size}")
        return int(self._classify(pixels.ctypes.data))


class IntEngine:
    """The integer C of an ``intplan.IntPlan`` compiled for this host; ``scores(pixels)`` gives the
    int32 scores of (N, ...) uint8 pixels, one C call an image, as a microcontroller runs it."""

    def __init__(self, plan, flags=PORTABLE, name: str = "model", layout: str = "smaller"):
        from prunelab.deploy import cint

        header, source = cint.generate(plan, name, layout=layout)
        self.inputs, self.classes = plan.plan.inputs, plan.plan.outputs
        self.path = build(name, header, source, tuple(flags))
        self._library = ctypes.CDLL(str(self.path))
        self._scores = getattr(self._library, f"{name}_scores_int")
        self._scores.restype = None
        self._scores.argtypes = [ctypes.c_void_p, ctypes.c_void_p]

    def scores(self, pixels: np.ndarray) -> np.ndarray:
        pixels = np.ascontiguousarray(pixels, dtype=np.uint8).reshape(len(pixels), -1)
        if pixels.shape[1] != self.inputs:
            raise PrunelabError(f"the engine takes {self.inputs} bytes an image, not {pixels.shape[1]}")
        out = np.empty((len(pixels), self.classes), np.int32)
        for i in range(len(pixels)):
            self._scores(pixels[i].ctypes.data, out[i].ctypes.data)
        return out


def build(name: str, header: str, source: str, flags: tuple[str, ...]) -> Path:
    """The shared library for this source and flags: from the cache when its checksum holds."""
    cc = compiler()
    if cc is None:
        raise PrunelabError("no C compiler found (set CC, or install gcc or clang) to build the C engine")
    identity = _compiler_identity(cc)
    key = hashlib.sha256(json.dumps([header, source, flags, identity, name]).encode()).hexdigest()[:24]
    folder = cache_dir() / key
    library, record = folder / f"lib{name}.so", folder / "build.json"
    if _verified(library, record):
        return library
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / f"{name}.h").write_text(header)
        (Path(work) / f"{name}.c").write_text(source)
        out = Path(work) / "lib.so"
        command = [cc, *flags, "-shared", "-fPIC", "-o", str(out), str(Path(work) / f"{name}.c"), "-lm"]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            first = (result.stderr.strip().splitlines() or ["no message"])[0]
            raise PrunelabError(f"the C compiler failed on the generated source: {first}")
        data = out.read_bytes()
    write_bytes(library, data)
    write_bytes(record, json.dumps({"sha256": hashlib.sha256(data).hexdigest(), "flags": list(flags),
                                    "compiler": identity}).encode())
    return library


def _verified(library: Path, record: Path) -> bool:
    try:
        expected = json.loads(record.read_text())["sha256"]
        return hashlib.sha256(library.read_bytes()).hexdigest() == expected
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _compiler_identity(cc: str) -> str:
    try:
        result = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PrunelabError(f"could not run the C compiler {cc}: {exc}") from None
    return f"{cc} {(result.stdout.splitlines() or [''])[0]}"
