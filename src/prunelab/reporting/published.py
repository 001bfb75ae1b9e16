"""Published MNIST results (from the papers, as collected in REFERENCES.md), for plotting beside
our own runs. They are drawn hollow and labelled "published": nothing here was measured by us.

Compression is dense weights / nonzero weights ("params"), or dense bytes / stored bytes
("storage") where the paper reports it.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    method: str
    model: str  # our model name for the network
    error_pct: float  # test error after compression
    params_x: float | None
    storage_x: float | None


POINTS = [
    Published("Han 2015 pruning", "lenet5-caffe", 0.77, 12, None),
    Published("Han 2015 pruning", "lenet-300-100", 1.59, 12, None),
    Published("Deep Compression 2016", "lenet5-caffe", 0.74, 12, 39),
    Published("Deep Compression 2016", "lenet-300-100", 1.58, 12, 40),
    Published("Dynamic Network Surgery 2016", "lenet5-caffe", 0.91, 108, None),
    Published("Soft weight-sharing 2017", "lenet5-caffe", 0.97, 200, 162),
    Published("Sparse VD 2017", "lenet5-caffe", 0.75, 280, None),
    Published("Sparse VD 2017", "lenet-300-100", 1.92, 68, None),
    Published("Bayesian Compression 2017 (approx.)", "lenet5-caffe", 1.0, None, 771),
    Published("MIRACLE 2019 (approx.)", "lenet5-caffe", 0.96, None, 1110),
]

# Han et al. 2015, Table 1/2: the share of each layer's weights kept after pruning.
LAYER_DENSITY = {
    "lenet5-caffe": {"conv1": 0.66, "conv2": 0.12, "fc1": 0.08, "fc2": 0.19},
    "lenet-300-100": {"fc1": 0.08, "fc2": 0.09, "fc3": 0.26},
}
