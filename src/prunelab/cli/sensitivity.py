"""`prunelab sensitivity SOURCE`: per-layer scan on the validation split, and the chosen targets."""

import json

import torch

from prunelab import data
from prunelab.cli.sources import load_source
from prunelab.errors import PrunelabError
from prunelab.pruning.mask import Mask
from prunelab.pruning.sensitivity import DEFAULT_LEVELS, choose_sparsity, scale_to_total, scan
from prunelab.training.loop import evaluate


def register_sensitivity(parser):
    parser.add_argument("source", help="a run directory (its dense model) or a .pt with --model")
    parser.add_argument("--model", help="architecture of a .pt file")
    parser.add_argument("--levels", default=",".join(map(str, DEFAULT_LEVELS)), help="sparsities to try per layer")
    parser.add_argument("--tolerance", type=float, default=0.002, help="accuracy a layer may lose (fraction)")
    parser.add_argument("--total", type=float, help="scale the chosen targets to this overall sparsity")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=sensitivity)


def sensitivity(args):
    try:
        levels = tuple(float(v) for v in args.levels.split(","))
    except ValueError:
        raise PrunelabError(f"--levels needs numbers separated by commas, got '{args.levels}'") from None
    model, name, dataset = load_source(args.source, "dense", args.model)
    held_out = data.load(dataset or "mnist").with_validation()  # the last 10,000 training images
    images, labels = torch.from_numpy(held_out.test_images), torch.from_numpy(held_out.test_labels)
    rows = scan(model, lambda m: evaluate(m, images, labels)["test_accuracy"], levels)
    chosen = choose_sparsity(rows, args.tolerance)
    if args.total is not None:
        sizes = {n: int(k.sum()) for n, k in Mask.ones_like(model).items()}
        chosen = scale_to_total(chosen, sizes, args.total)
    setting = ",".join(f"{n.removesuffix('.weight')}={s:g}" for n, s in chosen.items())
    if args.json:
        print(json.dumps({"model": name, "rows": rows, "chosen": chosen, "setting": setting}, indent=2))
        return
    print(f"{name}: validation accuracy unpruned {100 * rows[0]['accuracy']:.2f}% (last 10,000 training images)")
    for layer in chosen:
        cells = "  ".join(f"{r['sparsity']:g}:{100 * r['accuracy']:.2f}" for r in rows if r["layer"] == layer)
        print(f"  {layer.removesuffix('.weight'):<6} {cells}")
    print(f"use: --set prune.layers={setting}")
