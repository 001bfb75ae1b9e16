"""Sparse Variational Dropout (Molchanov et al. 2017) from Python: the method with its own trainer
(and svd-units, its version with a noise per unit: `make` builds the variational model).

As ``runs.svd_stage`` does: Adam on the data loss plus the KL term over the number of examples,
its weight rising linearly over the first half of the epochs; weights whose log alpha exceeds 3 are
pruned, and the user's model gets the plain weights in place (theta x mask; svd-units folds mu in).
"""

import torch

from prunelab.api.data import as_pair, batches, steps_per_epoch
from prunelab.pruning import variational
from prunelab.pruning.mask import Mask
from prunelab.training.loop import train_batches


def prune_variational(model: torch.nn.Module, data, epochs: int, lr: float, batch_size: int, seed: int,
                      make=variational.make_variational, progress: str | None = None) -> Mask:
    noisy = make(model)
    optimizer = torch.optim.Adam(noisy.parameters(), lr=lr)
    pair = as_pair(data)
    count = len(pair[0]) if pair is not None else steps_per_epoch(data, batch_size) * batch_size
    generator = torch.Generator().manual_seed(seed)
    warmup = max(1, epochs // 2)
    for epoch in range(epochs):
        weight = min(1.0, (epoch + 1) / warmup)
        train_batches(noisy, optimizer, batches(data, batch_size, generator),
                      extra_loss=lambda m: weight * variational.total_kl(m) / count,
                      progress=progress and f"prune ({progress}) {epoch + 1}/{epochs}")
    mask = Mask(variational.masks_of(noisy))
    model.load_state_dict(variational.plain_state_dict(noisy))
    return mask
