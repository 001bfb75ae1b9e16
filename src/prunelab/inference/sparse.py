"""Turn a pruned model into one that runs its conv and linear layers on the nonzero weights only.

Linear layers always become CSRLinear (torch CSR; see layers.py for why not scipy). For a
convolution the answer depends on the layer and the batch. Measured on LeNet layers (1 thread):
im2col + CSR beat PyTorch's dense kernel at batch 1 (~2x, less overhead); at batch 64-1000 it
ranged from 1.2x faster (LeNet-5-Caffe conv2, 12% kept) to 2-3x slower (LeNet-5 conv2, 10% kept;
Caffe conv1 at 66% kept). No simple rule of density fitted, so "auto" times both on the layer's
real input.
"""

import copy
import statistics

import torch
from torch import nn

from prunelab.errors import PrunelabError
from prunelab.inference.layers import CSRConv2d, CSRLinear, dense_conv, supports_im2col
from prunelab.inference.timing import time_interleaved

CONV_MODES = ("auto", "dense", "sparse")
# Per convolution when choosing: 7 rounds, or 3 once half a second has gone (a loaded machine).
AUTO_REPEATS, AUTO_MIN_SECONDS, AUTO_MAX_SECONDS = 7, 0.05, 0.5


def to_sparse(model: nn.Module, conv: str = "auto", example: torch.Tensor | None = None) -> nn.Module:
    """A deep copy of `model` in eval mode with every Linear and Conv2d replaced (the model is untouched).

    conv: "dense" keeps PyTorch's convolution, "sparse" forces im2col + CSR, "auto" picks per layer
    whichever is faster on that layer's input when the model runs `example` (default: 64 random
    (1, 28, 28) images, the LeNet input). Each layer's choice is the smaller median of up to 7
    interleaved runs (timing.time_interleaved), so on a loaded machine it can vary between builds.
    """
    if conv not in CONV_MODES:
        raise PrunelabError(f"conv must be one of {', '.join(CONV_MODES)}, not '{conv}'")
    sparse = copy.deepcopy(model).eval().requires_grad_(False)
    inputs = conv_inputs(sparse, example) if conv == "auto" else {}
    for name, module in list(sparse.named_modules()):
        if isinstance(module, nn.Linear):
            sparse = replace(sparse, name, CSRLinear(module))
        elif isinstance(module, nn.Conv2d):
            sparse = replace(sparse, name, choose_conv(module, conv, inputs.get(name)))
    return sparse


def conv_kernels(sparse: nn.Module) -> dict[str, str]:
    """Layer name -> "dense" or "sparse": which kernel each convolution of a to_sparse model runs."""
    kinds = {}
    for name, module in sparse.named_modules():
        if isinstance(module, (nn.Conv2d, CSRConv2d)):
            kinds[name] = "sparse" if isinstance(module, CSRConv2d) else "dense"
    return kinds


def choose_conv(conv: nn.Conv2d, mode: str, x: torch.Tensor | None) -> nn.Module:
    if mode == "dense" or (mode == "auto" and (x is None or not supports_im2col(conv))):
        return dense_conv(conv)
    if mode == "sparse":
        return CSRConv2d(conv)
    candidates = {"dense": dense_conv(conv), "sparse": CSRConv2d(conv)}
    samples = time_interleaved({k: (lambda m=m: m(x)) for k, m in candidates.items()}, AUTO_REPEATS,
                               AUTO_MIN_SECONDS, AUTO_MAX_SECONDS)
    return min(candidates.items(), key=lambda item: statistics.median(samples[item[0]]))[1]


def conv_inputs(model: nn.Module, example: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Layer name -> the tensor each convolution receives when the model runs `example`."""
    convs = {name: m for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    if not convs:
        return {}
    if example is None:
        device = next(model.parameters(), torch.empty(0)).device
        example = torch.rand((64, 1, 28, 28), generator=torch.Generator().manual_seed(0)).to(device)
    seen, hooks = {}, []
    for name, module in convs.items():
        hooks.append(module.register_forward_hook(lambda m, args, out, n=name: seen.__setitem__(n, args[0])))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def replace(root: nn.Module, name: str, new: nn.Module) -> nn.Module:
    """Put `new` where the submodule `name` was; returns the root (itself replaced when name == "")."""
    if not name:
        return new
    parent_name, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent_name), child, new)
    return root
