"""Model registry: a plain dict from a name to a function that builds the model, and a user's own
model named as ``package.module:factory`` (the factory is called with no arguments).

``build`` imports user code, so it takes only names the user gave (the command line, a settings file
of theirs, Python). A name read from a model file goes through ``build_builtin``: a file is data, and
opening one never imports or runs anything."""

import importlib
import os
import sys

from torch import nn

from prunelab.errors import PrunelabError
from prunelab.models.lenet import LeNet5, LeNet5Caffe, LeNet5_1998, LeNet300100, McuCNN, McuCNNStrided

REGISTRY = {
    "lenet5": LeNet5,
    "lenet5-1998": LeNet5_1998,
    "lenet5-caffe": LeNet5Caffe,
    "lenet-300-100": LeNet300100,
    "mcu-cnn": McuCNN,
    "mcu-cnn-s2": McuCNNStrided,
    "mcu-cnn-wide": lambda: McuCNN(10, 16, 96),
    "mcu-cnn-deep": lambda: McuCNN(8, 32, 128),
}


def build(name: str):
    """Return a freshly initialised model (seed torch before calling for reproducibility)."""
    if ":" in name:
        return build_factory(name)
    if name not in REGISTRY:
        raise PrunelabError(f"unknown model '{name}'; choose from {', '.join(REGISTRY)}")
    return REGISTRY[name]()


def build_builtin(name: str, origin: str = "the file") -> nn.Module:
    """A registry model for a name that came from a file; anything else is refused, never imported."""
    if name in REGISTRY:
        return REGISTRY[name]()
    shown = name if len(name) <= 80 else name[:77] + "..."
    raise PrunelabError(f"{origin} was made from model '{shown}', which is not built in ({', '.join(REGISTRY)}); "
                        f"a file never names code to run: give --model MODULE:FACTORY "
                        f"(in Python, prunelab.load(path, model))")


def build_factory(spec: str) -> nn.Module:
    """``package.module:factory()``; the module is looked up on the path, then in the working folder."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr.isidentifier():
        raise PrunelabError(f"--model needs MODULE:FACTORY (e.g. mynets:small_cnn), got '{spec}'")
    factory = getattr(_import(module_name), attr, None)
    if not callable(factory):
        raise PrunelabError(f"{module_name} has no attribute '{attr}' that builds a model")
    try:
        model = factory()
    except Exception as exc:  # the user's code may raise anything
        raise PrunelabError(f"{spec}() failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    if not isinstance(model, nn.Module):
        raise PrunelabError(f"{spec}() returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _import(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name.split(".")[0] or os.getcwd() in sys.path:
            raise PrunelabError(f"cannot import {module_name}: {exc}") from None
    except Exception as exc:
        raise PrunelabError(f"cannot import {module_name}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    sys.path.append(os.getcwd())  # `prunelab` as a console script does not search the working folder
    return _import(module_name)


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
