"""`Mask`: parameter name -> boolean tensor (True = weight kept). Masks only ever shrink."""

import io
from pathlib import Path

import torch
from torch import nn

from prunelab.errors import PrunelabError
from prunelab.foundations.files import read_regular, write_bytes


def check_layer_name(name: str, names: list, setting: str) -> None:
    """One line when ``name`` ("conv1.weight"), given in ``setting``, is not one of ``names``."""
    if name not in names:
        known = ", ".join(n.removesuffix(".weight") for n in names)
        raise PrunelabError(f"{setting} names layer {name.removesuffix('.weight')!r}, which is not one of the "
                            f"model's: {known}")


def prunable_names(model: nn.Module) -> list[str]:
    """The weights of every convolution and fully connected layer, in model order (no biases)."""
    return [
        f"{name}.weight"
        for name, module in model.named_modules()
        if isinstance(module, (nn.Conv2d, nn.Linear))
    ]


MAX_MASK_BYTES = 256 << 20  # LeNet-300-100's masks are 270 kB


class Mask(dict):
    """A dict name -> bool tensor, validated on construction."""

    def __init__(self, tensors: dict):
        super().__init__()
        for name, tensor in tensors.items():
            if not isinstance(tensor, torch.Tensor):
                raise PrunelabError(f"mask entry '{name}' is not a tensor")
            self[name] = tensor.detach().to("cpu", torch.bool).clone()

    @staticmethod
    def ones_like(model: nn.Module) -> "Mask":
        from prunelab.models import structural_masks  # absent-by-design weights start pruned

        params = dict(model.named_parameters())
        fixed = structural_masks(model)
        return Mask({n: fixed.get(n, torch.ones_like(params[n], dtype=torch.bool)) for n in prunable_names(model)})

    def kept(self) -> int:
        return sum(int(t.sum()) for t in self.values())

    def total(self) -> int:
        return sum(t.numel() for t in self.values())

    def sparsity(self) -> float:
        return 1.0 - self.kept() / self.total()

    def layer_sparsity(self) -> dict:
        return {name: 1.0 - int(t.sum()) / t.numel() for name, t in self.items()}

    def check_shrinks_from(self, previous: "Mask") -> None:
        """Raise if this mask revives any weight that `previous` had pruned."""
        if set(self) != set(previous):
            raise PrunelabError("masks cover different layers")
        for name, tensor in self.items():
            if bool((tensor & ~previous[name]).any()):
                raise PrunelabError(f"mask for '{name}' revives pruned weights")

    def apply_to(self, model: nn.Module) -> None:
        """Zero the pruned weights in place."""
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, keep in self.items():
                params[name].mul_(keep.to(params[name].device))

    def save(self, path) -> None:
        buffer = io.BytesIO()
        torch.save(dict(self), buffer)
        write_bytes(path, buffer.getvalue())

    @staticmethod
    def load(path) -> "Mask":
        if not Path(path).exists() and not Path(path).is_symlink():
            raise PrunelabError(f"mask file {path} does not exist")
        data = read_regular(path, MAX_MASK_BYTES, "mask file")  # a FIFO would hang torch.load, /dev/zero never end
        try:
            tensors = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a damaged file
            raise PrunelabError(f"mask file {path} is unreadable: {exc}".splitlines()[0]) from None
        if not isinstance(tensors, dict) or any(t.dtype != torch.bool for t in tensors.values()):
            raise PrunelabError(f"mask file {path} does not hold boolean tensors")
        return Mask(tensors)
