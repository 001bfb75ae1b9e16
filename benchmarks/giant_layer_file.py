"""Peak memory of `prunelab evaluate` on the red team's crafted file (issue 23): a valid, checksummed
1.8 MB file whose one layer claims 60,000 x 60,000 positions (one weight, then 14 M one-bit fillers).

    python benchmarks/giant_layer_file.py [--keep DIR]

Prints the file's size, the command's exit code and one-line message, and its peak resident memory
(the child's ru_maxrss). Before the fix it asked for about 30 GiB."""

import argparse
import resource
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

from prunelab.compression import fileformat
from prunelab.compression.kmeans import Codebook

ROWS = COLS = 60_000


def giant_file() -> bytes:
    fillers = (ROWS * COLS - 1) // 255  # canonical code: gap 0 (filler) is '0', gap 1 is '1'
    bits = 1 + fillers
    index_stream = b"\x80" + bytes((bits + 7) // 8 - 1)
    layer = types.SimpleNamespace(
        name="fc1", codebook=Codebook(np.array([0.5], np.float32), 5), index_bits=8,
        weight_code_lengths=np.array([1], np.uint8), index_code_lengths=np.array([1, 1] + [0] * 254, np.uint8),
        weight_count=1, index_count=bits, weight_stream=b"\x00", index_stream=index_stream, float_bits=32,
        bias_bits=32, bias=np.zeros(ROWS, np.float32))
    kept = types.SimpleNamespace(shape=(ROWS, COLS), all_kept=True)
    return fileformat.encode_model("lenet-300-100", {}, [layer], {}, {"fc1": kept})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="folder to leave the crafted file in")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "giant-layer.plc"
    path.write_bytes(giant_file())
    done = subprocess.run([sys.executable, "-m", "prunelab", "evaluate", str(path)], capture_output=True, text=True)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"file {path.stat().st_size:,} bytes; prunelab evaluate: exit {done.returncode}, "
          f"{len(done.stderr.splitlines())} line(s): {done.stderr.strip()}")
    print(f"peak resident memory of the command: {peak_mib:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
