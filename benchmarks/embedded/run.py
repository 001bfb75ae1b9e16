"""The C export on a Cortex-M4F, beside emx-onnx-cgen's C for the dense model, under QEMU.

    python benchmarks/embedded/run.py                      # the three models, -O2 and -Os, 10,000 images
    python benchmarks/embedded/run.py --images 100 --opt O2 --models caffe=results/records-lenet5-caffe/model.plc

For each model (a .plc file) and each optimisation level this builds two bare-metal images for
QEMU's mps2-an386 board (Cortex-M4 with FPU; startup.c, link.ld) with arm-none-eabi-gcc and the
flags in FLAGS, and runs them on the first N MNIST test images:

- ours: `prunelab export FILE --format c` (the compact model, codebook weights), called through
  `<name>_classify(const uint8_t pixels[784])`;
- peer: `prunelab export FILE --format onnx` (the dense model) compiled to C by emx-onnx-cgen
  (batch pinned to 1, every temporary on the stack, weights inline), behind peer_adapter.c.

The images reach the firmware through semihosting file I/O: QEMU runs in a work folder holding
`images.u8` (N x 784 bytes), the firmware (main.c) reads it one image at a time and writes
`results.bin` (class and SysTick ticks per image). Every prediction is compared with the host C
engine's (prunelab.deploy.engine.Engine on the same compact graph, built for this machine by gcc).

Measured per build: flash = text (code + rodata) of the model's own object file and RAM = its
data + bss, both from `arm-none-eabi-size`, plus the stack high-water mark of one call (main.c
paints the stack); instructions per inference from SysTick under `-icount shift=0`, where QEMU's
virtual clock advances 1 ns per instruction: main.c times a loop of 2,000,000 instructions to
get the ticks-to-instructions ratio (40: SysTick counts the board's 25 MHz clock), so the
counts are exact to one tick (40 instructions). `--trace-check` recounts one call instruction
by instruction from QEMU's execution log (-singlestep -d exec,nochain), since this QEMU build
ships no TCG plugins (libinsn).

Results go to --output as JSON and a markdown table beside it (results/embedded/ by default).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CC = "arm-none-eabi-gcc"
QEMU = "qemu-system-arm"
COMMON = ("-std=c99", "-ffp-contract=off", "-ffunction-sections", "-fdata-sections")


@dataclass(frozen=True)
class Board:
    """A QEMU machine and how to build for it. C99 without contraction, as the host engine is built:
    a*b+c stays two roundings (no VFMA), so the board runs the host's float32 operations in order."""

    core: str
    flags: tuple
    machine: str
    link_script: str


BOARDS = {
    "m4": Board("Cortex-M4F", ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", *COMMON),
                "mps2-an386", "link.ld"),
    # no FPU: float code runs through libgcc's soft-float routines, which count in its flash
    "m0": Board("Cortex-M0", ("-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft", *COMMON), "microbit",
                "link-microbit.ld"),
}
FLAGS = BOARDS["m4"].flags


def link_flags(board: Board) -> tuple:
    return ("--specs=rdimon.specs", f"-L{HERE}", f"-T{HERE / board.link_script}", "-Wl,--gc-sections")


def qemu_args(board: Board) -> tuple:
    return ("-M", board.machine, "-nographic", "-semihosting", "-icount", "shift=0")


QEMU_ARGS = qemu_args(BOARDS["m4"])
MODELS = {"lenet5-caffe": "results/records-lenet5-caffe/model.plc",
          "lenet-300-100": "results/records-lenet-300-100/model.plc",
          "main-job-lenet5": "results/main-job/model.plc"}


def missing_tools() -> list[str]:
    return [tool for tool in (CC, QEMU) if shutil.which(tool) is None]


def require_tools() -> None:
    if missing_tools():
        sys.exit(f"missing: {', '.join(missing_tools())} (apt-get install gcc-arm-none-eabi "
                 "libnewlib-arm-none-eabi qemu-system-arm)")


def mnist_test_images(count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` MNIST test images as (N, 784) bytes, and their labels."""
    from prunelab import data

    splits = data.load("mnist")
    return splits.test_images[:count].reshape(-1, 784), splits.test_labels[:count]


@dataclass
class Build:
    """One firmware image: the model object's sizes and what the run on the board measured."""

    implementation: str
    opt: str
    flash_bytes: int  # text + rodata of the model's object file
    static_ram_bytes: int  # its data + bss
    stack_bytes: int  # high-water mark of one classify call
    ram_bytes: int
    instructions_mean: float
    instructions_min: int
    instructions_max: int
    images: int
    agree_with_host: int
    correct: int
    firmware_bytes: int  # the whole image in code memory (text + data), newlib and harness included


def compile_objects(sources: dict, work: Path, opt: str, defines=(), board: Board = BOARDS["m4"]) -> dict:
    """{object name: source path} -> {object name: object path}, each built with the board's flags and -<opt>."""
    objects = {}
    for name, source in sources.items():
        obj = work / f"{name}.o"
        _check([CC, *board.flags, f"-{opt}", *defines, "-c", str(source), "-o", str(obj)])
        objects[name] = obj
    return objects


def link(objects, elf: Path, board: Board = BOARDS["m4"]) -> Path:
    _check([CC, *board.flags, *link_flags(board), *map(str, objects), "-lm", "-o", str(elf)])
    return elf


def helpers(model_obj: Path, elf: Path) -> list[str]:
    """What the model's object leaves undefined (`nm -u`): the libc and libgcc routines it calls."""
    return sorted(line.split()[-1] for line in _check(["arm-none-eabi-nm", "-u", str(model_obj)]).splitlines()
                  if line.strip())


def helper_bytes(names: list[str], elf: Path) -> int:
    """Flash the linked image spends on the routines ``names`` (their sizes from `nm -S`): the
    soft-float and division routines a float model pulls from libgcc. Routines those call in turn
    are not added (libgcc's single-precision routines on ARMv6-M call none but each other)."""
    sizes = {}
    for line in _check(["arm-none-eabi-nm", "-S", str(elf)]).splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tT":
            sizes[parts[3]] = int(parts[1], 16)
    return sum(sizes.get(name, 0) for name in names)


def size(path: Path) -> tuple[int, int, int]:
    """(text, data, bss) from arm-none-eabi-size (Berkeley format: text includes rodata)."""
    out = _check(["arm-none-eabi-size", str(path)]).splitlines()[1].split()
    return int(out[0]), int(out[1]), int(out[2])


def firmware(model_sources: dict, classify: str, work: Path, opt: str, inputs: int = 784,
             board: Board = BOARDS["m4"]) -> tuple[Path, Path]:
    """Build the benchmark image: startup + main (calling ``classify``) + the model's sources.
    Returns (elf, the model's main object) -- the first entry of ``model_sources`` is the model."""
    work.mkdir(parents=True, exist_ok=True)
    harness = compile_objects({"startup": HERE / "startup.c", "main": HERE / "main.c"}, work, opt,
                              (f"-DCLASSIFY={classify}", f"-DINPUTS={inputs}"), board)
    model = compile_objects(model_sources, work, opt, board=board)
    elf = link([*harness.values(), *model.values()], work / "firmware.elf", board)
    return elf, next(iter(model.values()))


def run_board(elf: Path, images: np.ndarray, work: Path, timeout: float, board: Board = BOARDS["m4"]) -> dict:
    """Run ``elf`` under QEMU on ``images`` (N, inputs) uint8: classes, instructions per call, stack."""
    np.ascontiguousarray(images, dtype=np.uint8).tofile(work / "images.u8")
    (work / "results.bin").unlink(missing_ok=True)
    out = _check([QEMU, *qemu_args(board), "-kernel", str(elf)], cwd=work, timeout=timeout)
    report = dict(line.split() for line in out.splitlines() if len(line.split()) == 2)
    if int(report.get("images", -1)) != len(images):
        raise RuntimeError(f"the firmware read {report.get('images')} images, not {len(images)}:\n{out}")
    rows = np.fromfile(work / "results.bin", dtype=np.int32).reshape(-1, 2)
    per_tick = int(report["calibration_instructions"]) / int(report["calibration_ticks"])
    ticks = rows[:, 1].astype(np.int64) - int(report["bracket_ticks"])
    return {"classes": rows[:, 0], "instructions": np.rint(ticks * per_tick).astype(np.int64),
            "stack_bytes": int(report["stack_bytes"]), "instructions_per_tick": per_tick}


def traced_pcs(elf: Path, image: np.ndarray, classify: str, work: Path, board: Board = BOARDS["m4"]) -> list[int]:
    """The address of every instruction of the timed call, in order: with -singlestep every
    translation block is one instruction and `-d exec,nochain` logs each one executed. From the
    entry of ``classify`` on the second call (the first is inside the stack measurement) to the
    first instruction back in main."""
    symbols = {}
    for line in _check(["arm-none-eabi-nm", "-S", str(elf)]).splitlines():
        parts = line.split()
        if len(parts) == 4:
            symbols[parts[3]] = (int(parts[0], 16) & ~1, int(parts[1], 16))
    entry, (main_start, main_size) = symbols[classify][0], symbols["main"]
    np.ascontiguousarray(image, dtype=np.uint8).reshape(1, -1).tofile(work / "images.u8")
    fifo = work / "exec.fifo"
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    qemu = subprocess.Popen([QEMU, *qemu_args(board), "-singlestep", "-d", "exec,nochain", "-D", str(fifo),
                             "-kernel", str(elf)], cwd=work, stdout=subprocess.DEVNULL)
    calls, pcs, entries = [], None, 0
    with open(fifo) as log:
        for line in log:
            if not line.startswith("Trace"):
                continue
            pc = int(line.split("[", 1)[1].split("/")[1], 16)
            if pcs is None:
                if pc == entry:
                    entries += 1
                    pcs = [] if entries == 2 else None
            if pcs is not None:
                if main_start <= pc < main_start + main_size:
                    calls.append(pcs)
                    pcs = None
                else:
                    pcs.append(pc)
    qemu.wait()
    fifo.unlink()
    return calls[0]


def traced_instructions(elf: Path, image: np.ndarray, classify: str, work: Path, board: Board = BOARDS["m4"]) -> int:
    return len(traced_pcs(elf, image, classify, work, board))


def traced_cycles(elf: Path, pcs: list[int], board_name: str) -> int:
    """The cycle estimate of one traced call (cycles.py: the core's published timings)."""
    import cycles

    table = cycles.disassembly(_check(["arm-none-eabi-objdump", "-d", str(elf)]))
    return cycles.estimate(pcs, table, cycles.TIMINGS[board_name])


def measure(name: str, kind: str, opt: str, elf: Path, model_obj: Path, board: dict, host: np.ndarray,
            labels: np.ndarray) -> Build:
    text, data, bss = size(model_obj)
    elf_text, elf_data, _ = size(elf)
    counts = board["instructions"]
    return Build(kind, opt, text, data + bss, board["stack_bytes"], data + bss + board["stack_bytes"],
                 float(counts.mean()), int(counts.min()), int(counts.max()), len(counts),
                 int((board["classes"] == host).sum()), int((board["classes"] == labels).sum()),
                 elf_text + elf_data)


def peer_sources(plc: Path, work: Path) -> dict:
    """emx-onnx-cgen's C for the dense ONNX export of ``plc`` (function ``peer``)."""
    work.mkdir(parents=True, exist_ok=True)
    onnx = work / "dense.onnx"
    _check([sys.executable, "-m", "prunelab", "export", str(plc), "--format", "onnx", "--output", str(onnx)])
    emx = shutil.which("emx-onnx-cgen") or str(Path(sys.executable).with_name("emx-onnx-cgen"))
    _check([emx, "compile", "--input-dim", "batch=1", "--large-temp-threshold", "0",
            "--large-weight-threshold", "0", "--model-name", "peer", str(onnx), str(work / "peer.c")])
    return {"peer": work / "peer.c", "adapter": HERE / "peer_adapter.c"}


def our_sources(plc: Path, work: Path) -> tuple[dict, str]:
    """`prunelab export --format c` of ``plc``: ({object: source}, the classify function)."""
    work.mkdir(parents=True, exist_ok=True)
    _check([sys.executable, "-m", "prunelab", "export", str(plc), "--format", "c", "--output", str(work)])
    (source,) = work.glob("*.c")
    return {"model": source}, f"{source.stem}_classify"


def host_predictions(plc: Path, images: np.ndarray) -> np.ndarray:
    """The host C engine's classes for (N, 784) uint8 images, through the same classify entry."""
    from prunelab.compress import unpack_model
    from prunelab.compression import CompressedModel
    from prunelab.deploy.compact import compact
    from prunelab.deploy.engine import Engine
    from prunelab.deploy.graph import trace

    graph = compact(trace(unpack_model(CompressedModel.read(plc)))).graph
    engine = Engine(graph, weights="codebook", batch=1)
    return np.array([engine.classify(image) for image in images])


def benchmark(name: str, plc: Path, images, labels, opts, work: Path, peer: bool, trace_check: bool) -> dict:
    host = host_predictions(plc, images)
    row = {"model": name, "file": str(plc), "builds": []}
    kinds = [("ours", *our_sources(plc, work / name / "ours-src"))]
    if peer:
        kinds.append(("emx-onnx-cgen", peer_sources(plc, work / name / "peer-src"), "peer_classify"))
    for kind, sources, classify in kinds:
        for opt in opts:
            folder = work / name / f"{kind}-{opt}"
            elf, model_obj = firmware(sources, classify, folder, opt)
            started = time.perf_counter()
            board = run_board(elf, images, folder, timeout=120 + 0.2 * len(images))
            build = measure(name, kind, opt, elf, model_obj, board, host, labels)
            entry = asdict(build) | {"qemu_seconds": round(time.perf_counter() - started, 1)}
            if trace_check and kind == "ours":
                entry["traced_instructions_image0"] = traced_instructions(elf, images[0], classify, folder)
                entry["timed_instructions_image0"] = int(board["instructions"][0])
            row["builds"].append(entry)
            print(f"{name:16s} {kind:14s} -{opt}: flash {build.flash_bytes:,} B, RAM {build.ram_bytes:,} B "
                  f"(stack {build.stack_bytes}), {build.instructions_mean:,.0f} instructions, "
                  f"{build.agree_with_host}/{build.images} as the host, {build.correct} correct",
                  file=sys.stderr, flush=True)
    return row


def table(rows) -> str:
    lines = ["| model | build | opt | flash (B) | RAM static + stack (B) | instructions / image | "
             "same class as host | accuracy |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        for b in row["builds"]:
            lines.append(f"| {row['model']} | {b['implementation']} | -{b['opt']} | {b['flash_bytes']:,} | "
                         f"{b['static_ram_bytes']:,} + {b['stack_bytes']:,} = {b['ram_bytes']:,} | "
                         f"{b['instructions_mean']:,.0f} | {b['agree_with_host']:,}/{b['images']:,} | "
                         f"{b['correct'] / b['images']:.2%} |")
    lines += ["", "| model | opt | peer / ours, instructions | peer / ours, flash | peer / ours, RAM |",
              "|---|---|---:|---:|---:|"]
    for row in rows:
        builds = {(b["implementation"], b["opt"]): b for b in row["builds"]}
        for (kind, opt), ours in builds.items():
            peer = builds.get(("emx-onnx-cgen", opt))
            if kind == "ours" and peer:
                lines.append(f"| {row['model']} | -{opt} | {peer['instructions_mean'] / ours['instructions_mean']:.1f}x | "
                             f"{peer['flash_bytes'] / ours['flash_bytes']:.0f}x | {peer['ram_bytes'] / ours['ram_bytes']:.1f}x |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", metavar="NAME=FILE",
                        default=[f"{k}={v}" for k, v in MODELS.items()])
    parser.add_argument("--opt", nargs="+", default=["O2", "Os"], choices=["O0", "O1", "O2", "O3", "Os"])
    parser.add_argument("--images", type=int, default=10000, help="the first N test images (default all)")
    parser.add_argument("--no-peer", action="store_true", help="leave out the emx-onnx-cgen builds")
    parser.add_argument("--trace-check", action="store_true",
                        help="recount one call of ours instruction by instruction (slow: ~10 s a build)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "embedded")
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "embedded" / "measurements.json")
    parser.add_argument("--render", action="store_true", help="only rewrite the markdown table from --output")
    args = parser.parse_args(argv)
    if args.render:
        result = json.loads(args.output.read_text())
        args.output.with_suffix(".md").write_text(f"`{result['command']}`\n\n{table(result['models'])}")
        return
    require_tools()
    images, labels = mnist_test_images(args.images)
    rows = []
    for spec in args.models:
        name, _, file = spec.partition("=")
        rows.append(benchmark(name, ROOT / file, images, labels, args.opt, args.work, not args.no_peer,
                              args.trace_check))
    result = {"command": "python benchmarks/embedded/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "board": "qemu-system-arm -M mps2-an386 (Cortex-M4F), " + " ".join(QEMU_ARGS[4:]),
              "flags": " ".join(FLAGS), "link": " ".join(LINK[:1] + LINK[2:]) + " -T link.ld -lm",
              "toolchain": _check([CC, "--version"]).splitlines()[0],
              "qemu": _check([QEMU, "--version"]).splitlines()[0], "models": rows}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    args.output.with_suffix(".md").write_text(f"`{result['command']}`\n\n{table(rows)}")
    print(table(rows))


def _check(command, cwd=None, timeout=600) -> str:
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed ({result.returncode}):\n"
                           f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result.stdout


if __name__ == "__main__":
    main()
