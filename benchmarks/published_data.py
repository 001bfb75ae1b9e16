"""Check the pinned dataset checksums (data/published.py) against real bytes and published values.

    apt-get download dataset-fashion-mnist && dpkg -x dataset-fashion-mnist_*.deb deb
    python benchmarks/published_data.py --fashion deb/usr/share/datasets/fashion-mnist [--json OUT]

Fashion-MNIST: Debian recompressed zalando's four .gz files, so their MD5s differ from the ones
zalando publishes. This unpacks each, compares it with the pinned MD5 of the unpacked file, then
compresses it again the way the originals were made (GNU gzip -6, the file's name and the
timestamp in the header of zalando's label files) and compares that with zalando's published MD5
(mirrors.MD5S): equal means Debian's bytes are the published ones. MNIST (--mnist, default the
cache): the four arrays written out as IDX files against the pinned MD5s.
"""

import argparse
import gzip
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

from prunelab.data import load
from prunelab.data.folder import IDX_FILES
from prunelab.data.mirrors import MD5S
from prunelab.data.published import PUBLISHED_MD5, idx_arrays, idx_md5

# mtime in the gzip headers of zalando's train-labels and t10k-labels .gz (2017-08-31 10:50:06 and :27
# UTC); each image file was written in the same second as its labels
ORIGINAL_MTIME = {"train": 0x59A7E9DE, "t10k": 0x59A7E9F3}


def regzip(name: str, data: bytes, folder: Path) -> bytes:
    """`gzip -6 NAME` as run on a file of these bytes with the original timestamp."""
    path = folder / name
    path.write_bytes(data)
    mtime = ORIGINAL_MTIME[name.split("-")[0]]
    os.utime(path, (mtime, mtime))
    return subprocess.run(["gzip", "-6", "-c", str(path)], capture_output=True, check=True).stdout


def check_fashion(folder: Path) -> dict:
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in IDX_FILES:
            packed = (folder / f"{name}.gz").read_bytes()
            unpacked = gzip.decompress(packed)
            again = hashlib.md5(regzip(name, unpacked, Path(tmp))).hexdigest()
            rows[name] = {"debian_gz_md5": hashlib.md5(packed).hexdigest(),
                          "unpacked_md5": hashlib.md5(unpacked).hexdigest(),
                          "pinned_md5": PUBLISHED_MD5["fashion-mnist"][name],
                          "regzipped_md5": again, "zalando_published_gz_md5": MD5S["fashion-mnist"][f"{name}.gz"]}
    return rows


def check_mnist(data_dir) -> dict:
    splits = load("mnist", data_dir=data_dir)
    return {name: {"unpacked_md5": idx_md5(array), "pinned_md5": PUBLISHED_MD5["mnist"][name]}
            for name, array in idx_arrays(splits).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fashion", type=Path, help="folder of Debian's four .gz files")
    parser.add_argument("--mnist", nargs="?", const="", help="folder of MNIST's IDX files (default: the cache)")
    parser.add_argument("--json")
    args = parser.parse_args()
    result = {}
    if args.fashion:
        result["fashion-mnist"] = check_fashion(args.fashion)
    if args.mnist is not None:
        result["mnist"] = check_mnist(args.mnist or None)
    good = True
    for dataset, rows in result.items():
        for name, row in rows.items():
            same = row["unpacked_md5"] == row["pinned_md5"] and row.get("regzipped_md5") == row.get(
                "zalando_published_gz_md5")
            good &= same
            print(f"{dataset} {name}: {'matches' if same else 'DIFFERS'} {json.dumps(row)}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    raise SystemExit(0 if good else 1)


if __name__ == "__main__":
    main()
