"""CPU-side geometry on (3, H, W) uint8 tensors: resizing and cropping only, no colour changes."""

from __future__ import annotations

import torch
from torchvision.transforms import v2


def train_transform(crop_size: int, min_scale: float = 0.35) -> v2.Transform:
    """Random resized crop to `crop_size` x `crop_size` (covering >= min_scale of the image)."""
    return v2.RandomResizedCrop(crop_size, scale=(min_scale, 1.0), antialias=True)


def eval_transform(size: int) -> v2.Transform:
    """Resize the shorter side to `size`, then center crop `size` x `size`."""
    return v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size)])


def squash_transform(size: int) -> v2.Transform:
    """Resize to exactly `size` x `size`, ignoring aspect ratio (the SIGGRAPH17 evaluation protocol)."""
    return v2.Resize((size, size), antialias=True)


def to_float(image: torch.Tensor) -> torch.Tensor:
    """uint8 in [0, 255] -> float32 in [0, 1]."""
    return image.float().div_(255.0)
