"""BatchNorm folded into the convolution or linear layer before it, as eval mode computes it.

A model keeps its BatchNorm layers while it trains (pruning a convolution's output channel leaves
its BatchNorm channel with nothing to normalise); the compressed file, the ONNX and C exports and
the integer engine see the folded model: each BatchNorm's

    y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta

goes into the layer before it as a per-output-channel scale of its weights and a new bias, and the
BatchNorm becomes ``nn.Identity``. A pruned weight stays zero (a scale of zero is still zero), so
the mask and the sparsity do not change. Only a BatchNorm that reads a Conv2d or Linear whose output
nothing else reads can be folded; any other is refused with its name.
"""

from __future__ import annotations

import torch
from torch import nn

from prunelab.errors import PrunelabError

NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, NORMS) for m in model.modules())


def folds(model: nn.Module) -> list[tuple[str, str]]:
    """(layer name, BatchNorm name) for each BatchNorm of ``model``, read from its traced forward."""
    from prunelab.deploy.trace import Tracer

    try:
        nodes = list(Tracer().trace(model).nodes)
    except Exception as exc:  # fx raises many types for code it cannot follow
        raise PrunelabError(f"cannot trace {type(model).__name__}: {str(exc).splitlines()[0]}") from None
    modules = dict(model.named_modules())
    pairs = []
    for node in nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], NORMS):
            continue
        source = node.args[0] if node.args else None
        layer = modules.get(source.target) if getattr(source, "op", None) == "call_module" else None
        if not isinstance(layer, (nn.Conv2d, nn.Linear)) or len(source.users) != 1:
            raise PrunelabError(f"{node.target}: a BatchNorm is folded into the convolution or linear layer it "
                                f"reads, and nothing else may read that layer's output")
        if type(layer).forward not in (nn.Conv2d.forward, nn.Linear.forward):
            raise PrunelabError(f"{source.target}: {type(layer).__name__} has a forward of its own; its "
                                f"BatchNorm {node.target} cannot be folded into it")
        pairs.append((source.target, node.target))
    return pairs


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm of ``model`` into the layer before it, in place (the BatchNorm becomes
    nn.Identity, a layer without a bias gets one); returns ``model``, in eval mode. A model without
    BatchNorm is returned as it is."""
    if not has_batchnorm(model):
        return model
    pairs = folds(model)
    for layer_name, norm_name in pairs:  # every check before the first change: never half-folded
        layer, norm = model.get_submodule(layer_name), model.get_submodule(norm_name)
        if norm.running_mean is None or norm.running_var is None:
            raise PrunelabError(f"{norm_name}: a BatchNorm without running statistics normalises each batch by "
                                f"itself at inference and cannot be folded")
        if norm.num_features != layer.weight.shape[0]:
            raise PrunelabError(f"{norm_name}: {norm.num_features} features after {layer_name}'s "
                                f"{layer.weight.shape[0]} outputs")
    model.eval()
    for layer_name, norm_name in pairs:
        layer, norm = model.get_submodule(layer_name), model.get_submodule(norm_name)
        scale = norm.running_var.double().add(norm.eps).rsqrt()
        shift = -norm.running_mean.double() * scale
        if norm.affine:
            scale, shift = scale * norm.weight.double(), shift * norm.weight.double() + norm.bias.double()
        bias = layer.bias.double() if layer.bias is not None else torch.zeros_like(scale)
        layer.weight.copy_((layer.weight.double() * scale.view(-1, *[1] * (layer.weight.dim() - 1))).float())
        layer.bias = nn.Parameter((bias * scale + shift).float().to(layer.weight.device))
        _replace(model, norm_name, nn.Identity())
    return model


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)
