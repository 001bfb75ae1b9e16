"""Running a pruned model on its nonzero weights (CSR kernels), and timing that against dense PyTorch."""

from prunelab.inference.bench import benchmark
from prunelab.inference.sparse import conv_kernels, to_sparse

__all__ = ["benchmark", "conv_kernels", "to_sparse"]
