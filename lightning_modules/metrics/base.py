"""What every image metric shares: input checks, and `ImagePair`, a batch of results and their ground truth with the
conversions several metrics read (Lab, saturation, colourfulness) computed once."""

from __future__ import annotations

from collections.abc import Callable

import torch

from pseudocolor.datamodules.color_space import rgb_to_lab_fused

MAX_VALUE = 255.0


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


def lab(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB on the 0-255 scale -> (B, 3, H, W) CIE Lab, L in [0, 100] (`color_space.rgb_to_lab_fused`:
    kornia's formula, faster)."""
    return rgb_to_lab_fused(image / MAX_VALUE)


class ImagePair:
    """Results `preds` and ground truth `target`, (B, 3, H, W) RGB on the 0-255 scale (uint8, or float in [0, 255]),
    checked and made float once. `preds_as(convert)` and `target_as(convert)` give `convert(preds)` and
    `convert(target)` (e.g. `lab`), computed on the first call for that `convert` and kept, so metrics that read the
    same conversion share it. `target_lab`, when given, is `lab(target)` computed already (e.g. to give a model the
    photos' L)."""

    def __init__(self, preds: torch.Tensor, target: torch.Tensor, target_lab: torch.Tensor | None = None) -> None:
        self.preds, self.target = check_images(preds, target)
        self._converted: dict[tuple[str, Callable[[torch.Tensor], torch.Tensor]], torch.Tensor] = {}
        if target_lab is not None:
            if target_lab.shape != self.target.shape:
                raise ValueError(f"target_lab {tuple(target_lab.shape)} must have target's shape {tuple(target.shape)}")
            self._converted["target", lab] = target_lab

    def preds_as(self, convert: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return self._convert("preds", convert)

    def target_as(self, convert: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return self._convert("target", convert)

    def _convert(self, side: str, convert: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        key = (side, convert)
        if key not in self._converted:
            self._converted[key] = convert(getattr(self, side))
        return self._converted[key]
