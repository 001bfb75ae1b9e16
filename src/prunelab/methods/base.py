"""What a pruning method is: a value with its criterion, how its mask is kept, and how it trains.

A registry entry (open_lth's shape): ``criterion(weights, mask, target, settings) -> Mask`` is a
pure function of the weights (name -> tensor), the current mask, the sparsity this round asks for
and the method's settings (a ``PruneConfig``); it never touches a model.
"""

from dataclasses import dataclass
from typing import Callable

from torch import nn

from prunelab.pruning.mask import Mask

Criterion = Callable[[dict, Mask, float, object], Mask]


@dataclass(frozen=True)
class Method:
    name: str
    criterion: Criterion | None  # None: the method's own trainer chooses the mask (Sparse VD)
    enforce: str = "step"  # "step": mask re-applied after every optimizer step; "epoch": after each epoch
    trainer: str = "masked"  # "masked": SGD with the mask held; "variational": its own trainer
    one_round: bool = False  # prunes once whatever the schedule (the course project's procedure)
    summary: str = ""
    # trainer "variational": the noisy copy of the plain model it trains (pruning.variational*)
    variational: Callable[[nn.Module], nn.Module] | None = None
    # trainer "variational": noise drawn from a seed per epoch, so a resumed stage repeats it exactly
    seeded_noise: bool = False
