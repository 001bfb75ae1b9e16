"""Sparsity report: per layer, weights kept and multiply-accumulates dense vs pruned.

Each weight of a convolution is used once per output position, each weight of a fully
connected layer once per image, so MACs = kept weights x uses per weight.
"""

import torch
from torch import nn

from prunelab.pruning.mask import Mask


def uses_per_weight(model: nn.Module, input_shape=(1, 1, 28, 28)) -> dict:
    """Layer weight name -> how many times each weight is used per image."""
    uses, hooks = {}, []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            hook = lambda m, i, out, n=name: uses.__setitem__(f"{n}.weight", out.shape[-1] * out.shape[-2])
        elif isinstance(module, nn.Linear):
            hook = lambda m, i, out, n=name: uses.__setitem__(f"{n}.weight", 1)
        else:
            continue
        hooks.append(module.register_forward_hook(hook))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(input_shape, device=device))
    model.train(was_training)
    for hook in hooks:
        hook.remove()
    return uses


def layer_table(model: nn.Module, mask: Mask, input_shape=(1, 28, 28)) -> list[dict]:
    """One row per prunable layer plus a 'total' row; ``input_shape`` is one example's (C, H, W)."""
    design = Mask.ones_like(model)
    uses = uses_per_weight(model, (1, *input_shape))
    rows = []
    for name, keep in mask.items():
        weights = int(design[name].sum())
        kept = int(keep.sum())
        rows.append({
            "layer": name.removesuffix(".weight"),
            "shape": list(keep.shape),
            "weights": weights,
            "kept": kept,
            "density": kept / weights if weights else 0.0,
            "macs_dense": weights * uses[name],
            "macs_pruned": kept * uses[name],
        })
    total = {k: sum(r[k] for r in rows) for k in ("weights", "kept", "macs_dense", "macs_pruned")}
    total["density"] = total["kept"] / total["weights"]
    rows.append({"layer": "total", "shape": [], **total})
    return rows


def format_table(rows: list[dict]) -> str:
    width = max([8] + [len(r["layer"]) for r in rows])  # a user's layer names can be long: 'block2.shortcut.0'
    lines = [f"{'layer':<{width}} {'weights':>9} {'kept':>9} {'kept %':>7} {'MACs dense':>11} {'MACs pruned':>12}"]
    for r in rows:
        lines.append(f"{r['layer']:<{width}} {r['weights']:>9,} {r['kept']:>9,} {100 * r['density']:>6.2f}% "
                     f"{r['macs_dense']:>11,} {r['macs_pruned']:>12,}")
    return "\n".join(lines)
