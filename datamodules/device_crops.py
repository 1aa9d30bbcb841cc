"""Random resized crops with flips of photos already on the training device: one `grid_sample` for the whole batch,
no CPU work per photo (what lets photos held in GPU memory train at the network's pace)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_resized_crops(
    photos: torch.Tensor,
    size: int,
    min_area: float = 0.2,
    max_aspect: float = 4 / 3,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(B, 3, S, S) uint8 photos -> (B, 3, size, size) float RGB in [0, 1]: each a crop covering a random fraction in
    [min_area, 1] of its photo with aspect ratio in [1 / max_aspect, max_aspect] (log-uniform), at a random position,
    flipped left-right with probability 1/2, resized bilinearly to size x size. A crop of the whole photo at size S
    is the photo itself, or its mirror image. Draws on `generator` (the photos' device) when given."""
    if photos.ndim != 4 or photos.shape[1] != 3:
        raise ValueError(f"photos must have shape (B, 3, S, S), got {tuple(photos.shape)}")
    if not 0 < min_area <= 1:
        raise ValueError(f"min_area must be in (0, 1], got {min_area}")
    batch, device = photos.shape[0], photos.device
    draws = torch.rand(5, batch, device=device, generator=generator)
    area = min_area + (1 - min_area) * draws[0]
    aspect = torch.exp((2 * draws[1] - 1) * math.log(max_aspect))
    width, height = (area * aspect).sqrt().clamp(max=1), (area / aspect).sqrt().clamp(max=1)
    flip = torch.where(draws[4] < 0.5, -1.0, 1.0)
    theta = torch.zeros(batch, 2, 3, device=device)  # output grid in [-1, 1] -> input coordinates
    theta[:, 0, 0], theta[:, 1, 1] = width * flip, height
    theta[:, 0, 2], theta[:, 1, 2] = (1 - width) * (2 * draws[2] - 1), (1 - height) * (2 * draws[3] - 1)
    grid = F.affine_grid(theta, [batch, 3, size, size], align_corners=False)
    rgb = photos.float() / 255
    return F.grid_sample(rgb, grid, mode="bilinear", padding_mode="reflection", align_corners=False).clamp(0, 1)
