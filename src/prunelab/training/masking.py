"""Keeping pruned weights at exactly zero during training.

After every optimizer step the mask is applied to the weights *and* to the optimizer state
(SGD's momentum buffer, Adam's moments): otherwise momentum and weight decay revive pruned
weights, a pitfall many pruning tools have.
"""

import torch

from prunelab.pruning.mask import Mask


class MaskEnforcer:
    """Callable used as `after_step`; holds device copies of the mask for speed."""

    def __init__(self, model, mask: Mask):
        self.set_mask(model, mask)

    def set_mask(self, model, mask: Mask) -> None:
        self.mask = mask
        params = dict(model.named_parameters())
        self.pairs = [(params[n], mask[n].to(params[n].device, params[n].dtype)) for n in mask]
        with torch.no_grad():
            for param, keep in self.pairs:
                param.mul_(keep)

    @torch.no_grad()
    def __call__(self, model, optimizer) -> None:
        for param, keep in self.pairs:
            param.mul_(keep)
            for value in optimizer.state.get(param, {}).values():
                if isinstance(value, torch.Tensor) and value.shape == keep.shape:
                    value.mul_(keep)
