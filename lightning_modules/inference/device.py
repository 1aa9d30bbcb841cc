"""Which device a command runs on: the one rule behind every `--device auto|cpu|cuda` flag."""

from __future__ import annotations

import torch

from pseudocolor.datamodules.errors import PseudocolorError


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when visible, else CPU; 'cuda' (or 'cuda:N') without a visible GPU raises PseudocolorError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PseudocolorError(f"--device {name}: no CUDA device is visible; use --device cpu or --device auto")
    try:
        return torch.device(name)
    except RuntimeError:
        raise PseudocolorError(f"--device {name}: not a device name; use auto, cpu or cuda") from None
