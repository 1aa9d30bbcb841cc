"""What every image metric shares: input checks and a Metric that averages per-image values."""

from __future__ import annotations

import torch
from torchmetrics import Metric


def check_images(preds: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a pair of (B, 3, H, W) RGB batches on the 0-255 scale (uint8, or float in [0, 255]) and
    return them as float32 (float64 kept)."""
    if preds.ndim != 4 or preds.shape[1] != 3:
        raise ValueError(f"preds must have shape (B, 3, H, W) RGB on the 0-255 scale, got {tuple(preds.shape)}")
    if preds.shape != target.shape:
        raise ValueError(f"preds {tuple(preds.shape)} and target {tuple(target.shape)} must have the same shape")
    return to_float(preds), to_float(target)


def check_image(image: torch.Tensor, name: str = "image") -> torch.Tensor:
    """Validate one (B, 3, H, W) RGB batch on the 0-255 scale and return it as float32 (float64 kept)."""
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"{name} must have shape (B, 3, H, W) RGB on the 0-255 scale, got {tuple(image.shape)}")
    return to_float(image)


def to_float(image: torch.Tensor) -> torch.Tensor:
    return image if image.dtype == torch.float64 else image.float()


class PerImageMean(Metric):
    """Mean over images of a per-image value. Subclasses set `per_image`, the functional twin:
    (preds, target) (B, 3, H, W) RGB on the 0-255 scale -> (B,) values.

    States are a float64 sum and a count, summed across DDP ranks, so the result does not depend on
    how the images are split between processes.
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better: bool | None = None

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")

    @staticmethod
    def per_image(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        values = self.per_image(preds, target)
        self.total += values.detach().sum(dtype=torch.float64)
        self.count += values.numel()

    def compute(self) -> torch.Tensor:
        """The mean of the per-image values seen (NaN before any update)."""
        return (self.total / self.count).float()
