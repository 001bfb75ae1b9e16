"""Model registry: a plain dict from a name to a function that builds the model."""

from prunelab.errors import PrunelabError
from prunelab.models.lenet import LeNet5, LeNet5Caffe, LeNet5_1998, LeNet300100

REGISTRY = {
    "lenet5": LeNet5,
    "lenet5-1998": LeNet5_1998,
    "lenet5-caffe": LeNet5Caffe,
    "lenet-300-100": LeNet300100,
}


def build(name: str):
    """Return a freshly initialised model (seed torch before calling for reproducibility)."""
    if name not in REGISTRY:
        raise PrunelabError(f"unknown model '{name}'; choose from {', '.join(REGISTRY)}")
    return REGISTRY[name]()


def structural_masks(model) -> dict:
    """Weights that are absent by design (LeNet-5-1998's C3 table): name -> bool tensor of live ones."""
    masks = {}
    for module_name, module in model.named_modules():
        links = getattr(module, "connections", None)
        if links is not None:
            masks[f"{module_name}.weight"] = links.bool().expand_as(module.weight).clone()
    return masks


def count_parameters(model) -> int:
    """Trainable parameters that exist by design (a fixed-zero connection is not a parameter)."""
    absent = sum(int((~m).sum()) for m in structural_masks(model).values())
    return sum(p.numel() for p in model.parameters()) - absent
