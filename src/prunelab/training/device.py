"""Device choice: CUDA when present, the CPU otherwise; never required."""

import torch


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Same seed, same numbers on the CPU (cuDNN may still differ on a GPU)."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
