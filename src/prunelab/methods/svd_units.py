"""Sparse VD plus a noise per unit (group variational dropout, ``pruning.variational_units``): whole
filters and neurons die where their log alpha exceeds 3, and compaction removes them with their
work. Trained by the Sparse VD trainer (``runs.svd_stage``) under the same KL weight and warm-up."""

from prunelab.methods.base import Method
from prunelab.pruning.variational_units import make_variational_units

METHOD = Method("svd-units", None, trainer="variational", variational=make_variational_units, seeded_noise=True,
                summary="Sparse VD with a noise per filter and neuron, so whole units die (group variational dropout)")
