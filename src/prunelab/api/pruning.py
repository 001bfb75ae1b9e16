"""Pruning a user's model in place: ``Pruner`` for the user's own loop, ``prune`` with prunelab's.

Both keep the mask the way the run stages do: pruned weights, and the optimizer's state for them
(SGD momentum, Adam moments), are zeroed after every optimizer step (``training.masking``), the
mask only shrinks, and the criterion comes from the method registry (``prunelab.methods``).
"""

import torch

from prunelab import methods
from prunelab.api.data import batches, check_training, classes_of, steps_per_epoch
from prunelab.errors import PrunelabError
from prunelab.pruning.criteria import check_sparsity
from prunelab.pruning.mask import Mask
from prunelab.pruning.schedules import agp_sparsity, iterative_targets
from prunelab.runs.config import PruneConfig, layer_targets
from prunelab.training.loop import train_batches
from prunelab.training.masking import MaskEnforcer

SCHEDULES = ("oneshot", "iterative", "gradual")


class Pruner:
    """Prunes ``model`` to ``sparsity`` over ``steps`` optimizer steps; call ``step(optimizer)`` after
    every ``optimizer.step()`` and ``finish()`` at the end.

    oneshot: prunes now; iterative: ``rounds`` cuts at equal step intervals, density falling
    geometrically (Han et al. 2015); gradual: Zhu & Gupta's cubic ramp over the first 3/4 of ``steps``,
    tightened 20 times. ``quality`` is the std method's, ``layers`` the per-layer targets
    ("conv1=0.6,fc1=0.97") of the magnitude method.
    """

    def __init__(self, model: torch.nn.Module, sparsity: float, *, method: str = "magnitude",
                 schedule: str = "oneshot", steps: int = 0, rounds: int = 3, quality: float = 1.0, layers: str = ""):
        self.method = methods.get(method)
        if self.method.criterion is None:
            raise PrunelabError(f"method {method} trains its own way; use prunelab.prune(model, data, method='{method}')")
        if schedule not in SCHEDULES:
            raise PrunelabError(f"unknown schedule '{schedule}'; choose from {', '.join(SCHEDULES)}")
        if schedule != "oneshot" and steps < 1:
            raise PrunelabError(f"schedule {schedule} needs steps (the optimizer steps it spreads over)")
        self.settings = PruneConfig(method=method, schedule=schedule, sparsity=check_sparsity(sparsity),
                                    rounds=rounds, quality=quality, layers=layers)
        self.model, self.steps, self.done = model, steps, 0
        rounds = 1 if schedule == "oneshot" or self.method.one_round else rounds
        targets = iterative_targets(sparsity, rounds)
        self.cuts = [] if schedule == "gradual" else [(i * steps // rounds, t) for i, t in enumerate(targets)]
        self.end = max(1, int(0.75 * steps))
        self.interval = max(1, self.end // 20)
        self.mask = Mask.ones_like(model)
        self.enforcer = MaskEnforcer(model, self.mask)
        self._cut_due()

    def step(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """After ``optimizer.step()``: tighten the mask when the schedule says so, then zero pruned
        weights and their optimizer state (every step; once an epoch, see ``end_epoch``, for course)."""
        self.done += 1
        self._cut_due()
        if self.settings.schedule == "gradual" and self.done % self.interval == 0:
            self.tighten(agp_sparsity(self.done, self.settings.sparsity, 0, self.end))
        if self.method.enforce == "step":
            self.enforcer(self.model, optimizer if optimizer is not None else _NO_STATE)

    def end_epoch(self) -> None:
        """Zero the pruned weights (what an epoch-enforced method does instead of ``step``'s)."""
        self.mask.apply_to(self.model)

    def finish(self) -> Mask:
        """Reach the final target (a gradual schedule cut short gets there now), zero what is pruned."""
        while self.cuts:
            self.cut(self.cuts.pop(0)[1])
        if self.settings.schedule == "gradual":
            self.tighten(self.settings.sparsity)
        self.mask.apply_to(self.model)
        return self.mask

    def tighten(self, target: float) -> None:
        """A gradual step: cut only when the ramp has moved past the current sparsity."""
        if target > self.mask.sparsity():
            self.cut(target)

    def cut(self, target: float) -> None:
        """The method's next mask for ``target`` (std ignores it: its threshold sets the sparsity)."""
        previous = self.mask
        self.mask = self.method.criterion(dict(self.model.named_parameters()), previous, target, self.settings)
        self.mask.check_shrinks_from(previous)
        self.enforcer.set_mask(self.model, self.mask)

    def _cut_due(self) -> None:
        while self.cuts and self.cuts[0][0] <= self.done:
            self.cut(self.cuts.pop(0)[1])


class _NoState:
    state: dict = {}


_NO_STATE = _NoState()


def prune(model: torch.nn.Module, data, sparsity: float | None = None, *, method: str = "magnitude",
          schedule: str = "iterative",
          rounds: int = 3, epochs: int = 1, lr: float = 0.01, momentum: float = 0.9, batch_size: int = 128,
          seed: int = 0, quality: float = 1.0, layers: str = "", progress: bool = True) -> Mask:
    """Prune ``model`` in place with prunelab's masked SGD loop: ``epochs`` of retraining per round
    (gradual: in all) on ``data``, a pair (x, y) or a DataLoader. Returns the final mask. Sparse VD
    (``svd``, ``svd-units``) chooses its own sparsity through its KL term and takes none."""
    check_training(batch_size, epochs, lr, momentum)
    variational = methods.get(method).trainer == "variational"
    if variational and sparsity is not None:
        raise PrunelabError(f"method {method} chooses its own sparsity (its KL term prunes the weights it can): "
                            f"leave sparsity out")
    if not variational and sparsity is None:
        raise PrunelabError(f"method {method} needs a sparsity, e.g. sparsity=0.9")
    if layers:
        for name, value in layer_targets(layers).items():
            check_sparsity(value)
    classes = classes_of(model, data)
    if variational:
        from prunelab.api.variational import prune_variational

        return prune_variational(model, data, epochs, lr, batch_size, seed, methods.get(method).variational,
                                 progress=method if progress else None)
    total_epochs = epochs * (1 if schedule != "iterative" or methods.get(method).one_round else rounds)
    per_epoch = steps_per_epoch(data, batch_size)
    pruner = Pruner(model, sparsity, method=method, schedule=schedule, steps=total_epochs * per_epoch,
                    rounds=rounds, quality=quality, layers=layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(total_epochs):
        label = f"prune {epoch + 1}/{total_epochs} sparsity {pruner.mask.sparsity():.3f}" if progress else None
        train_batches(model, optimizer, batches(data, batch_size, generator, classes),
                      after_step=lambda m, o: pruner.step(o), progress=label, total=per_epoch)
        if pruner.method.enforce == "epoch":
            pruner.end_epoch()
    return pruner.finish()
