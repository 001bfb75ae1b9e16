"""Sparse Variational Dropout (Molchanov et al. 2017): its own trainer learns log alpha per weight and
prunes where it exceeds 3 (``pruning.variational``, ``runs.svd_stage``); there is no criterion."""

from prunelab.methods.base import Method

METHOD = Method("svd", None, trainer="variational", summary="Sparse Variational Dropout (Molchanov et al. 2017)")
