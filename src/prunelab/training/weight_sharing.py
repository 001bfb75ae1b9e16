"""Trained quantization (Han, Mao & Dally 2016, section 3): weights share per-layer centroids.

Each layer's surviving weights are clustered by k-means; the weights become centroids[codes].
During fine-tuning the assignments stay fixed, each centroid moves by the sum of its members'
gradients (eq. 3), pruned weights are never given a centroid and stay exactly zero.
"""

import numpy as np
import torch

from prunelab.compression import Codebook, centroid_gradients, cluster
from prunelab.errors import PrunelabError
from prunelab.pruning.mask import Mask, check_layer_name


class SharedWeights:
    """The codebooks (trainable centroids) and fixed codes of every prunable layer."""

    def __init__(self, model, mask: Mask, bits: dict, init: str = "linear", seed: int = 0):
        params = dict(model.named_parameters())
        self.mask, self.bits, self.centroids, self.codes = mask, bits, {}, {}
        for name, keep in mask.items():
            weights = params[name].detach().cpu().numpy()
            codebook, codes = cluster(weights, keep.numpy(), bits[name], init=init, seed=seed)
            device = params[name].device
            self.centroids[name] = torch.tensor(codebook.centroids, device=device)
            self.codes[name] = torch.from_numpy(codes.astype(np.int64)).to(device)
        self.write_into(model)

    @torch.no_grad()
    def write_into(self, model) -> None:
        """Set every shared weight to its centroid (zero where pruned)."""
        params = dict(model.named_parameters())
        for name, keep in self.mask.items():
            keep = keep.to(params[name].device)
            params[name].copy_(torch.where(keep, self.centroids[name][self.codes[name]], 0.0))

    @torch.no_grad()
    def round_to_half(self, model) -> None:
        """Round every centroid, and the bias of every weight-shared layer, to the nearest float16
        value, as a file with ``float_bits`` 16 stores them; the model then holds what it will hold."""
        params = dict(model.named_parameters())
        for name in self.mask:
            bias = params.get(name.removesuffix(".weight") + ".bias")
            for values in (self.centroids[name], bias):
                if values is None:
                    continue
                rounded = values.half().float()
                if not torch.isfinite(rounded).all():
                    raise PrunelabError(f"{name}: a centroid or bias is beyond float16's range (65504); use float_bits 32")
                values.copy_(rounded)
        self.write_into(model)

    def codebook(self, name: str) -> Codebook:
        return Codebook(self.centroids[name].detach().cpu().numpy().astype(np.float32), self.bits[name])

    def state(self) -> dict:
        return {name: c.detach().cpu() for name, c in self.centroids.items()}

    def load_state(self, centroids: dict, model) -> None:
        with torch.no_grad():  # in place: the optimizer holds these very tensors
            for name, value in centroids.items():
                self.centroids[name].copy_(value)
        self.write_into(model)


class CentroidOptimizer:
    """Looks like a torch optimizer to the training loop: SGD on biases and centroids.

    Shared weights are excluded from the inner optimizer; their gradients are summed into
    the centroids before each step and the weights are rewritten from the centroids after.
    """

    def __init__(self, model, shared: SharedWeights, lr: float, momentum: float):
        self.model, self.shared = model, shared
        params = dict(model.named_parameters())
        others = [p for n, p in params.items() if n not in shared.mask]
        for c in shared.centroids.values():
            c.grad = torch.zeros_like(c)
        self.inner = torch.optim.SGD(others + list(shared.centroids.values()), lr=lr, momentum=momentum)
        self.param_groups = self.inner.param_groups
        self.state = self.inner.state

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.model.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        params = dict(self.model.named_parameters())
        for name, keep in self.shared.mask.items():
            k = len(self.shared.centroids[name])
            grad = params[name].grad
            self.shared.centroids[name].grad = centroid_gradients(
                grad, self.shared.codes[name], keep.to(grad.device), k).to(grad.dtype)
        self.inner.step()
        self.shared.write_into(self.model)

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state)


def layer_bits(model, mask: Mask, conv_bits: int, fc_bits: int, overrides: dict | None = None) -> dict:
    """Han et al.'s LeNet setting: 8 bits for convolutions, 5 for fully connected layers; `overrides`
    ({"fc1.weight": 4}) gives named layers their own width."""
    overrides = overrides or {}
    check_code_widths(overrides, list(mask), "quantize.layers")
    modules = dict(model.named_modules())
    widths = {n: conv_bits if isinstance(modules[n.rsplit(".", 1)[0]], torch.nn.Conv2d) else fc_bits for n in mask}
    return {**widths, **overrides}


def check_code_widths(widths: dict, names: list, setting: str) -> None:
    """One line for a width outside 1..16 bits or a layer the model does not prune."""
    for name, bits in widths.items():
        layer = name.removesuffix(".weight")
        check_layer_name(name, names, setting)
        if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 16:
            raise PrunelabError(f"{setting}: {layer} needs a code width of 1..16 bits, got {bits!r}")
