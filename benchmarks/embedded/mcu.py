"""The C export on microcontrollers without and with an FPU: float and integer C, Cortex-M0 and M4.

    python benchmarks/embedded/mcu.py                        # the default models, both boards, both arithmetics
    python benchmarks/embedded/mcu.py --quick                # 200 images, written to build/embedded/quick/
    python benchmarks/embedded/mcu.py --models tiny=results/mcu/tiny/model.plc --boards m0 --arithmetic int8

For each model (a calibrated .plc), board and arithmetic this exports the C (`prunelab export FILE
--format c --arithmetic A`), builds a bare-metal image with arm-none-eabi-gcc (run.py: startup.c,
main.c, the board's linker script), runs it under QEMU with -icount shift=0 on the first N MNIST
test images and compares every class with the host build of the same C (the host engines, built
by the system compiler). The boards: `microbit` (Cortex-M0, ARMv6-M, no FPU: float code goes
through libgcc's soft-float routines) and `mps2-an386` (Cortex-M4F).

Per build: flash = text + rodata of the model's object plus the libgcc/libc routines it calls
(`nm -u`, sized in the linked image); RAM = its data + bss plus the stack high-water mark of one
call; instructions per image from SysTick (exact to one tick: 62.5 instructions on the M0, 40 on
the M4); cycles, estimated: one call traced instruction by instruction and priced by the core's
published timings (cycles.py), the mean instructions times that call's cycles per instruction.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import run as embedded  # noqa: E402  (the board harness)

MODELS = {"lenet5-caffe-units": "results/mcu/records/lenet5-caffe-units.plc",
          "lenet5-caffe-200": "results/mcu/records/lenet5-caffe-200.plc",
          "lenet-300-100-200": "results/mcu/records/lenet-300-100-200.plc"}


def export(plc: Path, arithmetic: str, work: Path) -> tuple[Path, str]:
    work.mkdir(parents=True, exist_ok=True)
    for old in work.glob("*.[ch]"):
        old.unlink()
    embedded._check([sys.executable, "-m", "prunelab", "export", str(plc), "--format", "c", "--arithmetic",
                     arithmetic, "--output", str(work)])
    (source,) = work.glob("*.c")
    return source, f"{source.stem}_classify"


def host_classes(plc: Path, arithmetic: str, images: np.ndarray) -> tuple[np.ndarray, int]:
    """The host build's classes, and how many of them equal the Python integer reference's."""
    from prunelab.cli.integer import int_plan_of

    if arithmetic == "int8":
        from prunelab.deploy import intref
        from prunelab.deploy.engine import IntEngine

        plan = int_plan_of(str(plc))[0]
        scores = IntEngine(plan).scores(images)
        return scores.argmax(1), int((intref.scores(plan, images) == scores).all(1).sum())
    return embedded.host_predictions(plc, images), -1


def build_and_run(name, plc, board_name, arithmetic, opt, images, labels, work) -> dict:
    board = embedded.BOARDS[board_name]
    folder = work / name / f"{board_name}-{arithmetic}-{opt}"
    source, classify = export(plc, arithmetic, folder / "src")
    try:
        elf, model_obj = embedded.firmware({"model": source}, classify, folder, opt, board=board)
    except RuntimeError as exc:
        if "run into the stack" not in str(exc) and "overflowed" not in str(exc):
            raise
        text, data, bss = embedded.size(folder / "model.o")  # it compiled; the board's RAM is too small
        return {"board": board_name, "core": board.core, "arithmetic": arithmetic, "opt": opt, "fits": False,
                "flash_object": text, "static_ram": data + bss, "classes": None, "images": 0}
    started = time.perf_counter()
    result = embedded.run_board(elf, images, folder, timeout=300 + 0.5 * len(images), board=board)
    seconds = time.perf_counter() - started
    text, data, bss = embedded.size(model_obj)
    calls = embedded.helpers(model_obj, elf)
    pulled = embedded.helper_bytes(calls, elf)
    pcs = embedded.traced_pcs(elf, images[0], classify, folder, board)
    cycles0 = embedded.traced_cycles(elf, pcs, board_name)
    counts = result["instructions"]
    return {"board": board_name, "core": board.core, "arithmetic": arithmetic, "opt": opt, "fits": True,
            "flash_object": text, "flash_helpers": pulled, "flash_bytes": text + pulled, "helpers": calls,
            "static_ram": data + bss, "stack": result["stack_bytes"], "ram_bytes": data + bss + result["stack_bytes"],
            "instructions_mean": float(counts.mean()), "instructions_max": int(counts.max()),
            "traced_instructions_image0": len(pcs), "timed_instructions_image0": int(counts[0]),
            "traced_cycles_image0": cycles0, "cycles_mean_estimate": float(counts.mean() * cycles0 / len(pcs)),
            "images": len(counts), "classes": result["classes"], "qemu_seconds": round(seconds, 1)}


def benchmark(name, plc, boards, arithmetics, opt, images, labels, work) -> dict:
    row = {"model": name, "file": str(plc), "builds": []}
    for arithmetic in arithmetics:
        host, reference_equal = host_classes(plc, arithmetic, images)
        for board in boards:
            entry = build_and_run(name, plc, board, arithmetic, opt, images, labels, work)
            classes = entry.pop("classes")
            if not entry["fits"]:
                row["builds"].append(entry)
                print(f"{name:20s} {board} {arithmetic:5s} -{opt}: does not fit the board's RAM "
                      f"({entry['static_ram']:,} B static)", file=sys.stderr, flush=True)
                continue
            entry |= {"same_as_host": int((classes == host).sum()), "correct": int((classes == labels).sum()),
                      "host_correct": int((host == labels).sum()), "host_scores_equal_reference": reference_equal}
            row["builds"].append(entry)
            print(f"{name:20s} {board} {arithmetic:5s} -{opt}: flash {entry['flash_bytes']:,} B, RAM {entry['ram_bytes']:,} B, "
                  f"{entry['instructions_mean']:,.0f} instructions, ~{entry['cycles_mean_estimate']:,.0f} cycles, "
                  f"{entry['same_as_host']}/{entry['images']} as the host, {entry['correct']} correct", file=sys.stderr,
                  flush=True)
    return row


def table(rows) -> str:
    lines = ["| model | core | arithmetic | flash (B): object + helpers | RAM (B): static + stack | "
             "instructions / image | cycles / image (est.) | board = host | accuracy |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        for b in row["builds"]:
            if not b["fits"]:
                lines.append(f"| {row['model']} | {b['core']} | {b['arithmetic']} | {b['flash_object']:,} + ? | "
                             f"{b['static_ram']:,} + ?: does not fit 16 KB with the harness | - | - | - | - |")
                continue
            lines.append(f"| {row['model']} | {b['core']} | {b['arithmetic']} | {b['flash_object']:,} + "
                         f"{b['flash_helpers']:,} = {b['flash_bytes']:,} | {b['static_ram']:,} + {b['stack']:,} = "
                         f"{b['ram_bytes']:,} | {b['instructions_mean']:,.0f} | {b['cycles_mean_estimate']:,.0f} | "
                         f"{b['same_as_host']:,}/{b['images']:,} | {b['correct'] / b['images']:.2%} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", metavar="NAME=FILE", default=[f"{k}={v}" for k, v in MODELS.items()])
    parser.add_argument("--boards", nargs="+", default=["m0", "m4"], choices=list(embedded.BOARDS))
    parser.add_argument("--arithmetic", nargs="+", default=["int8", "float"], choices=["int8", "float"])
    parser.add_argument("--opt", default="Os", choices=["O0", "O1", "O2", "O3", "Os"])
    parser.add_argument("--images", type=int, default=10000, help="the first N test images (default all)")
    parser.add_argument("--quick", action="store_true", help="200 images, results to build/embedded/quick/")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "embedded" / "mcu")
    parser.add_argument("--output", type=Path, help="default results/mcu/measurements.json (the quick mode: "
                                                    "build/embedded/quick/measurements.json, never the committed file)")
    args = parser.parse_args(argv)
    if args.quick:
        args.images = min(args.images, 200)
    if args.output is None:
        partial = args.quick or args.images < 10000
        args.output = ROOT / ("build/embedded/quick" if partial else "results/mcu") / "measurements.json"
    embedded.require_tools()
    images, labels = embedded.mnist_test_images(args.images)
    rows = []
    for spec in args.models:
        name, _, file = spec.partition("=")
        rows.append(benchmark(name, ROOT / file, args.boards, args.arithmetic, args.opt, images, labels, args.work))
    result = {"command": "python benchmarks/embedded/mcu.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "flags": {k: " ".join(b.flags) for k, b in embedded.BOARDS.items()}, "opt": args.opt,
              "toolchain": embedded._check([embedded.CC, "--version"]).splitlines()[0],
              "qemu": embedded._check([embedded.QEMU, "--version"]).splitlines()[0],
              "host": subprocess.run(["uname", "-m"], capture_output=True, text=True).stdout.strip(), "models": rows}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    args.output.with_suffix(".md").write_text(f"`{result['command']}`\n\n{table(rows)}")
    print(table(rows))


if __name__ == "__main__":
    main()
