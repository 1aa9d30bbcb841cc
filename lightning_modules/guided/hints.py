"""Hint inputs of the network (Zhang et al. SIGGRAPH17): parsing user hints and encoding them for the network.

Local hints: (B, 3, H, W) = [a / AB_SCALE, b / AB_SCALE, mask], mask 1 on hinted pixels, all zero
where there is no hint. Global hint: (B, Q + 1) = [ab histogram over the network's Q bins (sums to 1),
mean saturation], all zero for "no global hint". Saturation is the mean chroma sqrt(a^2 + b^2) / AB_SCALE
of the counted pixels (0 for grey, about 0.3 for typical photos, at most about 1.2).
"""

from __future__ import annotations

import re

import torch

from pseudocolor.datamodules.color_space import rgb_to_lab
from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.lightning_modules.ab_encoding import ab_histogram, normalize_ab

HINT_PATTERN = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*,\s*#?([0-9a-fA-F]{6})\s*$")


def _check_points(positions: torch.Tensor, values: torch.Tensor, channels: int, name: str) -> None:
    if positions.ndim != 3 or positions.shape[-1] != 2:
        raise ValueError(f"points must have shape (B, N, 2) as (x, y) pixels, got {tuple(positions.shape)}")
    if values.shape != (*positions.shape[:2], channels):
        raise ValueError(f"{name} must have shape {(*positions.shape[:2], channels)}, got {tuple(values.shape)}")


def _patch_offsets(patch_size: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-point (B, N) patch sides -> offsets (P*P,) in y and x, and (B, N, P*P) which offsets are used."""
    largest = int(patch_size.max()) if patch_size.numel() else 1
    steps = torch.arange(largest, device=patch_size.device)
    dy, dx = (t.flatten() for t in torch.meshgrid(steps, steps, indexing="ij"))
    used = (dy < patch_size[..., None]) & (dx < patch_size[..., None])
    return dy, dx, used


def encode_ab_hints(
    points: torch.Tensor,
    ab: torch.Tensor,
    height: int,
    width: int,
    patch_size: int | torch.Tensor = 1,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sparse ab hints -> (B, 3, height, width) local hint map.

    Args:
        points: (B, N, 2) (x, y) pixel positions; a patch of `patch_size` pixels a side is centred on each
            (top-left for even sides) and clipped to the image.
        ab: (B, N, 2) hint colours in Lab units.
        patch_size: one side for all points, or (B, N) sides.
        valid: (B, N) bool, which points exist (batches with different hint counts); default all.

    Where patches overlap, the hint colour is their mean.
    """
    _check_points(points, ab, 2, "ab")
    batch, count = points.shape[:2]
    device = ab.device
    sides = torch.as_tensor(patch_size, device=device).expand(batch, count).long()
    if (sides < 1).any():
        raise ValueError("patch_size must be at least 1 pixel")
    valid = torch.ones(batch, count, dtype=torch.bool, device=device) if valid is None else valid.to(device)
    dy, dx, used = _patch_offsets(sides)
    used = used & valid[..., None]
    points = points.to(device).long()
    ys = points[..., 1:2] - (sides[..., None] - 1) // 2 + dy
    xs = points[..., 0:1] - (sides[..., None] - 1) // 2 + dx
    used = used & (ys >= 0) & (ys < height) & (xs >= 0) & (xs < width)
    image = torch.arange(batch, device=device)[:, None, None].expand_as(ys)
    index = (image[used], ys[used], xs[used])
    colour = normalize_ab(ab)[:, :, None, :].expand(-1, -1, ys.shape[-1], -1)[used]
    total = torch.zeros(batch, height, width, 2, dtype=ab.dtype, device=device)
    total.index_put_(index, colour, accumulate=True)
    hits = torch.zeros(batch, height, width, dtype=ab.dtype, device=device)
    hits.index_put_(index, torch.ones_like(colour[:, 0]), accumulate=True)
    mask = (hits > 0).to(ab.dtype)
    hinted_ab = total / hits.clamp_min(1)[..., None]
    return torch.cat([hinted_ab.permute(0, 3, 1, 2), mask[:, None]], dim=1)


def encode_point_hints(
    points: torch.Tensor, colors: torch.Tensor, height: int, width: int, patch_size: int = 1
) -> torch.Tensor:
    """User clicks -> (B, 3, height, width) local hint map.

    Args:
        points: (B, N, 2) (x, y) positions in pixels of the height x width hint map.
        colors: (B, N, 3) RGB in [0, 1]; their ab (via `color.rgb_to_lab`) is the hint.
    """
    _check_points(points, colors, 3, "colors")
    lab = rgb_to_lab(colors.reshape(1, -1, 3).permute(0, 2, 1)[..., None].float())
    ab = lab[0, 1:, :, 0].T.reshape(*colors.shape[:2], 2)
    return encode_ab_hints(points, ab, height, width, patch_size)


def scale_points(points: torch.Tensor, image_size: tuple[int, int], hint_size: tuple[int, int]) -> torch.Tensor:
    """(..., 2) (x, y) pixels of an image of `image_size` (H, W) -> pixels of a `hint_size` (h, w) map."""
    (height, width), (hint_height, hint_width) = image_size, hint_size
    scale = torch.tensor([hint_width / width, hint_height / height], device=points.device)
    limit = torch.tensor([hint_width - 1, hint_height - 1], device=points.device)
    return torch.minimum((points.float() * scale).floor().long(), limit)


def parse_hint(text: str) -> tuple[tuple[int, int], tuple[float, float, float]]:
    """'X,Y,#RRGGBB' (pixels of the input image, hex colour) -> ((x, y), (r, g, b) in [0, 1])."""
    match = HINT_PATTERN.match(text)
    if match is None:
        raise PseudocolorError(f"hint {text!r} is not X,Y,#RRGGBB (pixel column, pixel row, hex colour), e.g. 120,45,#3a7bd5")
    x, y, colour = int(match[1]), int(match[2]), match[3]
    return (x, y), tuple(int(colour[i : i + 2], 16) / 255 for i in (0, 2, 4))


def global_hint_from_ab(ab: torch.Tensor, bins: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 2, H, W) ab (Lab units) -> (B, Q + 1) global hint: histogram over `bins` (Q, 2), mean saturation.

    `mask` (B, 1, H, W) or (H, W) in {0, 1} selects the pixels; an image with none gets all zeros.
    """
    if ab.ndim != 4 or ab.shape[1] != 2:
        raise ValueError(f"ab must have shape (B, 2, H, W), got {tuple(ab.shape)}")
    if mask is not None:
        mask = mask.to(ab.device)
        if mask.ndim == 2:
            mask = mask[None, None].expand(ab.shape[0], 1, -1, -1)
        if mask.shape != (ab.shape[0], 1, *ab.shape[-2:]):
            raise ValueError(f"mask must have shape {(ab.shape[0], 1, *ab.shape[-2:])} or (H, W), got {tuple(mask.shape)}")
    weights = torch.ones_like(ab[:, :1]) if mask is None else mask.to(ab.dtype)
    histogram = ab_histogram(ab, bins, weights)
    chroma = normalize_ab(ab).norm(dim=1, keepdim=True)
    saturation = (chroma * weights).flatten(1).sum(dim=1) / weights.flatten(1).sum(dim=1).clamp_min(1)
    return torch.cat([histogram, saturation[:, None]], dim=1)
