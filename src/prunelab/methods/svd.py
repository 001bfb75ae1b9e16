"""Sparse Variational Dropout (Molchanov et al. 2017): its own trainer learns log alpha per weight and
prunes where it exceeds 3 (``pruning.variational``, ``runs.svd_stage``); there is no criterion.

Its noise comes from torch's global generator, as its finished stages were made: drawing it from a
seed per epoch (``seeded_noise``, as svd-units does) would change its output for the same settings
and so need a new pruned-stage version (``runs.record.VERSIONS``)."""

from prunelab.methods.base import Method
from prunelab.pruning.variational import make_variational

METHOD = Method("svd", None, trainer="variational", summary="Sparse Variational Dropout (Molchanov et al. 2017)",
                variational=make_variational)
