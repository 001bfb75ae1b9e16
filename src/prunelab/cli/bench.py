"""`prunelab bench SOURCE`: time a model with dense PyTorch and with sparse kernels, side by side."""

import json

from prunelab.cli.settings import MODEL_HELP
from prunelab.errors import PrunelabError

# Interleaved medians on a shared machine move by a few percent between runs: within 5% is a tie.
NOISE = 1.05
ENGINES = ("onnxruntime", "onnxruntime-compact", "c-float", "c-codebook")


def register_bench(parser):
    parser.add_argument("source", help="a run directory, a .pt state_dict or a compressed model file")
    parser.add_argument("--stage", default="pruned", choices=("dense", "pruned"))
    parser.add_argument("--model", help=MODEL_HELP)
    parser.add_argument("--input-shape", help="C,H,W (or F) of one input, for a .pt of your own model "
                                              "(default: what the file or run records, else 1,28,28)")
    parser.add_argument("--batch-sizes", default="1,64,1000", help="comma-separated (default 1,64,1000)")
    parser.add_argument("--repeats", type=int,
                        help="interleaved dense/sparse rounds per batch size (default: 10, and more until "
                             "1 s has passed); fewer, at least 3, once 5 s have passed")
    parser.add_argument("--conv", default="auto", choices=("auto", "dense", "sparse"),
                        help="convolution kernel of the sparse path: timed per layer (auto) or forced")
    parser.add_argument("--threads", type=int,
                        help="torch and onnxruntime threads while timing (default: their own); the C engine uses one")
    parser.add_argument("--engines", default="all",
                        help=f"engines beside dense PyTorch and torch CSR: all (default), none, or some of "
                             f"{', '.join(ENGINES)} separated by commas")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=bench)


def bench(args) -> int:
    from prunelab.cli.sources import load_source, source_input_shape
    from prunelab.inference import benchmark

    batch_sizes = parse_batch_sizes(args.batch_sizes)
    model, name, _ = load_source(args.source, args.stage, args.model)
    shape = source_input_shape(args.source, args.input_shape, model, name)
    # rounds as asked, or the library's default: 10 rounds, extended to fill 1 s at small batches
    timing = {"repeats": args.repeats, "min_seconds": 0.0} if args.repeats is not None else {}
    wanted = parse_engines(args.engines)
    extra, missing = {}, {}
    if wanted:
        from prunelab.deploy.engines import available

        extra, missing = available(model, args.threads, shape)
        missing = {n: why for n, why in missing.items() if any(e.startswith(n) for e in wanted)}
        extra = {n: prepare for n, prepare in extra.items() if n in wanted}
    result = benchmark(model, batch_sizes, conv=args.conv, threads=args.threads, input_shape=shape, extra=extra, **timing)
    result.update(model=name, stage=args.stage, source=str(args.source), engines_missing=missing)
    print(json.dumps(result, indent=2) if args.json else format_result(result))
    return 0


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise PrunelabError(f"--batch-sizes needs positive integers separated by commas, not '{text}'")
    return sizes


def parse_engines(text: str) -> tuple[str, ...]:
    if text == "all":
        return ENGINES
    if text == "none":
        return ()
    names = tuple(text.split(","))
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        raise PrunelabError(f"unknown engine {unknown[0]!r}; choose all, none, or from {', '.join(ENGINES)}")
    return names


def format_result(result: dict) -> str:
    """The table, the machine, and a plain sentence for each batch size where sparse lost."""
    ceiling = result["flop_ceiling"]
    ceiling_text = f"{ceiling:.1f}x" if ceiling else "n/a"
    lines = [f"{result['model']} ({result['stage']}): MACs per image {result['macs_dense']:,} dense, "
             f"{result['macs_nonzero']:,} on nonzero weights (ceiling {ceiling_text})",
             f"{'batch':>6} {'dense ms':>10} {'sparse ms':>10} {'speed-up':>9} {'ceiling':>8}  conv kernels"]
    for row in result["batches"]:
        kernels = ", ".join(f"{k} {v}" for k, v in row["conv_kernels"].items()) or "-"
        lines.append(f"{row['batch_size']:>6} {row['dense_ms']:>10.3f} {row['sparse_ms']:>10.3f} "
                     f"{row['speedup']:>8.2f}x {ceiling_text:>8}  {kernels}")
    lines.append(machine_line(result["machine"]))
    lines += [verdict(row, ceiling_text) for row in result["batches"] if row["speedup"] < NOISE]
    lines += engine_lines(result)
    return "\n".join(lines)


def engine_lines(result: dict) -> list[str]:
    """Every engine at every batch size: ms per batch and speed-up over dense PyTorch."""
    rows = [(row, name, cell) for row in result["batches"] for name, cell in row.get("engines", {}).items()]
    lines = [f"{name}: left out, {why}" for name, why in result.get("engines_missing", {}).items()]
    if not rows:
        return lines
    lines.append(f"{'batch':>6} {'engine':<20} {'ms':>10} {'images/s':>12} {'vs dense':>9}  predictions")
    for row in result["batches"]:
        lines.append(f"{row['batch_size']:>6} {'torch dense':<20} {row['dense_ms']:>10.3f} "
                     f"{row['dense_images_per_s']:>12,.0f} {1:>8.2f}x")
        lines.append(f"{row['batch_size']:>6} {'torch csr':<20} {row['sparse_ms']:>10.3f} "
                     f"{row['sparse_images_per_s']:>12,.0f} {row['speedup']:>8.2f}x")
        for name, cell in row.get("engines", {}).items():
            same = "same as dense" if cell["same_predictions"] else "DIFFER from dense"
            lines.append(f"{row['batch_size']:>6} {name:<20} {cell['ms']:>10.3f} {cell['images_per_s']:>12,.0f} "
                         f"{cell['speedup']:>8.2f}x  {same}")
    return lines


def machine_line(machine: dict) -> str:
    load, cpus = machine["load_average_1min"], machine["logical_cpus"]
    policy = machine.get("omp_wait_policy")  # results written before it was recorded lack it
    line = (f"machine: {machine['processor']}, {cpus} CPUs, torch {machine['torch']} "
            f"with {machine['torch_threads']} thread(s)" + (f" (OMP_WAIT_POLICY={policy})" if policy else "")
            + (f", load average {load:.1f}" if load is not None else ""))
    if load is not None and cpus and load > cpus and machine["torch_threads"] > 1:
        # threads that wait for each other at every layer stall whenever another process holds a core
        line += "\nthe machine is busy: multi-threaded timings are inflated and erratic; --threads 1 is steadier"
    return line


def verdict(row: dict, ceiling_text: str) -> str:
    at = f"at batch {row['batch_size']} ({row['speedup']:.2f}x)"
    if row["speedup"] >= 1 / NOISE:
        return f"sparse is no faster than dense {at}: within timing noise."
    return (f"sparse is slower than dense {at}: skipping zero weights saves MACs (ceiling {ceiling_text}), "
            f"but the sparse kernels pay a fixed cost per call, index reads and scattered memory access "
            f"that dense kernels avoid.")
