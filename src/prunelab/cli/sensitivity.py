"""`prunelab sensitivity SOURCE`: per-layer scan on the validation split, and the chosen targets."""

import json
import sys
from pathlib import Path

from prunelab import data
from prunelab.cli.settings import MODEL_HELP
from prunelab.errors import PrunelabError
from prunelab.runs.config import load_toml


def register_sensitivity(parser):
    parser.add_argument("source", help="a run directory (its dense model) or a .pt with --model")
    parser.add_argument("--model", help=MODEL_HELP)
    parser.add_argument("--levels", help="sparsities to try per layer, separated by commas (default: "
                                         "pruning.sensitivity.DEFAULT_LEVELS, 0.5 to 0.99)")
    parser.add_argument("--tolerance", type=float, default=0.002, help="accuracy a layer may lose (fraction)")
    parser.add_argument("--total", type=float, help="scale the chosen targets to this overall sparsity")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=sensitivity)


def sensitivity(args):
    import torch

    from prunelab.cli.sources import load_source
    from prunelab.pruning.mask import Mask
    from prunelab.pruning.sensitivity import DEFAULT_LEVELS, choose_sparsity, scale_to_total, scan
    from prunelab.training.loop import evaluate

    if args.levels is None:
        args.levels = ",".join(map(str, DEFAULT_LEVELS))
    try:
        levels = tuple(float(v) for v in args.levels.split(","))
    except ValueError:
        raise PrunelabError(f"--levels needs numbers separated by commas, got '{args.levels}'") from None
    model, name, dataset = load_source(args.source, "dense", args.model)
    loaded = data.load(dataset or "mnist")
    held_out = loaded.with_validation()  # the last sixth of the training images (MNIST's last 10,000)
    seen = trained_on_held_out(args.source, len(held_out.train_labels))
    split = (f"last {len(held_out.test_labels):,} training images"
             + (", which this run trained on: optimistic" if seen else ""))
    if seen:
        log(f"warning: {args.source} trained on all training images, so the scan scores it on images it has "
            f"seen; train with --set data.validation=true for a held-out scan")
    images, labels = torch.from_numpy(held_out.test_images), torch.from_numpy(held_out.test_labels)
    rows = scan(model, lambda m: evaluate(m, images, labels)["test_accuracy"], levels)
    chosen = choose_sparsity(rows, args.tolerance)
    if args.total is not None:
        sizes = {n: int(k.sum()) for n, k in Mask.ones_like(model).items()}
        chosen = scale_to_total(chosen, sizes, args.total)
    setting = ",".join(f"{n.removesuffix('.weight')}={s:g}" for n, s in chosen.items())
    if args.json:
        print(json.dumps({"model": name, "rows": rows, "chosen": chosen, "setting": setting,
                          "scored_on": split, "held_out": not seen}, indent=2))
        return
    print(f"{name}: validation accuracy unpruned {100 * rows[0]['accuracy']:.2f}% ({split})")
    for layer in chosen:
        cells = "  ".join(f"{r['sparsity']:g}:{100 * r['accuracy']:.2f}" for r in rows if r["layer"] == layer)
        print(f"  {layer.removesuffix('.weight'):<6} {cells}")
    print(f"use: --method magnitude --set prune.layers={setting}")  # per-layer targets are the magnitude method's


def trained_on_held_out(source: str, kept: int) -> bool:
    """Whether SOURCE is a run that trained on the images the scan holds out (no validation split):
    on more than the first `kept` training images."""
    config_file = Path(source) / "config.toml"
    if not config_file.exists():
        return False
    d = load_toml(config_file).data
    return not d.validation and (d.train_limit == 0 or d.train_limit > kept)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
