"""Dense optical flow between two small lightness maps: coarse-to-fine Lucas-Kanade in torch, and warping along it.

No learned weights: each pyramid level (halving down to MIN_LEVEL_SIDE px) refines the flow of the level below by a
few Gauss-Newton steps of the windowed brightness-constancy equations (Lucas & Kanade 1981; Bouguet's pyramidal
form), regularised towards no change where the window holds no texture.

Flow convention: `flow[:, 0]` (x) and `flow[:, 1]` (y) in pixels of the grid it was estimated on, pointing from a
pixel of `current` to where its content was in `previous`: `current(p) ~ previous(p + flow(p))`. Pixel centres are
at (i + 0.5) / W of the frame, so a flow resized to another grid of the same frame scales by the ratio of the sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

MIN_LEVEL_SIDE = 8  # px: the coarsest pyramid level has a shorter side of at least this


@dataclass(frozen=True)
class FlowSettings:
    """How `estimate_flow` works.

    Attributes:
        levels: most pyramid levels (fewer when halving would go under MIN_LEVEL_SIDE px).
        iterations: Gauss-Newton steps per level.
        window: side (px, odd) of the box window whose gradients each pixel's step solves.
        regularization: added to the diagonal of the 2x2 structure tensor (L units squared per pixel squared, the
            window's mean): a window with less texture than this barely moves.
        max_step: largest change of the flow (px) in one step.
        smoothing: side (px, odd) of the box filter applied to the flow after each step (1: none), which spreads the
            flow of textured windows into flat ones.
    """

    levels: int = 4
    iterations: int = 3
    window: int = 9
    regularization: float = 5.0
    max_step: float = 1.0
    smoothing: int = 5


def _check(l: torch.Tensor, name: str) -> None:
    if l.ndim != 4 or l.shape[1] != 1:
        raise ValueError(f"{name} must have shape (B, 1, H, W), got {tuple(l.shape)}")


def sample_grid(flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 2, H, W) flow in pixels -> the (B, H, W, 2) grid_sample grid (align_corners=False) of p + flow(p), and
    the (B, 1, H, W) bool map of where p + flow(p) lies inside the frame."""
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must have shape (B, 2, H, W), got {tuple(flow.shape)}")
    height, width = flow.shape[-2:]
    ys = torch.arange(height, device=flow.device, dtype=flow.dtype)
    xs = torch.arange(width, device=flow.device, dtype=flow.dtype)
    x = xs[None, None, :] + flow[:, 0] + 0.5
    y = ys[None, :, None] + flow[:, 1] + 0.5
    inside = (x >= 0) & (x <= width) & (y >= 0) & (y <= height)
    grid = torch.stack([x / width * 2 - 1, y / height * 2 - 1], dim=-1)
    return grid, inside[:, None]


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) map of the previous frame and (B, 2, H, W) flow -> (B, C, H, W) map moved onto the current frame
    (bilinear; positions outside the frame take the nearest border value)."""
    if image.ndim != 4 or image.shape[0] != flow.shape[0] or image.shape[-2:] != flow.shape[-2:]:
        raise ValueError(
            f"image must be (B, C, H, W) of the flow's B, H, W {tuple(flow.shape)}, got {tuple(image.shape)}"
        )
    grid, _ = sample_grid(flow)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, 2, H, W) flow in pixels -> (B, 2, h, w) for a grid of `size` (h, w) over the same frame (area averaging
    when shrinking, bilinear when growing; vectors scaled by the ratio of the sides)."""
    height, width = flow.shape[-2:]
    if (height, width) == tuple(size):
        return flow
    if size[0] <= height and size[1] <= width:
        resized = F.adaptive_avg_pool2d(flow, size)
    else:
        resized = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    scale = torch.tensor([size[1] / width, size[0] / height], device=flow.device, dtype=flow.dtype)
    return resized * scale[None, :, None, None]


def _gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 1, H, W) -> central differences along x and y (one-sided at the borders)."""
    gy, gx = torch.gradient(image, dim=(-2, -1))
    return gx, gy


def _window_sums(image: torch.Tensor, window: int, dim: int) -> torch.Tensor:
    """Mean over `window` neighbours along `dim` (the part inside the image), from cumulative sums."""
    radius, length = window // 2, image.shape[dim]
    padding = [0, 0] * (image.ndim - dim % image.ndim - 1) + [radius + 1, radius]
    sums = F.pad(image, padding).cumsum(dim)
    sums = sums.narrow(dim, window, length) - sums.narrow(dim, 0, length)
    index = torch.arange(length, device=image.device)
    count = (index + radius).clamp(max=length - 1) - (index - radius).clamp(min=0) + 1
    shape = [1] * image.ndim
    shape[dim] = length
    return sums / count.reshape(shape).to(image.dtype)


def _box(image: torch.Tensor, window: int) -> torch.Tensor:
    """(B, C, H, W) -> mean over the `window` x `window` box around each pixel (the part inside the image)."""
    return _window_sums(_window_sums(image, window, -1), window, -2)


def _refine(previous: torch.Tensor, current: torch.Tensor, flow: torch.Tensor, settings: FlowSettings) -> torch.Tensor:
    """One level: `settings.iterations` Gauss-Newton steps of windowed Lucas-Kanade from `flow`."""
    for _ in range(settings.iterations):
        warped = warp(previous, flow)
        gx, gy = _gradients((warped + current) / 2)
        difference = warped - current
        products = torch.cat([gx * gx, gy * gy, gx * gy, gx * difference, gy * difference], dim=1)
        sxx, syy, sxy, sxt, syt = _box(products, settings.window).split(1, dim=1)
        sxx, syy = sxx + settings.regularization, syy + settings.regularization
        determinant = sxx * syy - sxy * sxy
        step = torch.cat([syy * sxt - sxy * syt, sxx * syt - sxy * sxt], dim=1) / -determinant
        flow = flow + step.clamp(-settings.max_step, settings.max_step)
        if settings.smoothing > 1:
            flow = _box(flow, settings.smoothing)
    return flow


@torch.no_grad()
def estimate_flow(
    previous: torch.Tensor, current: torch.Tensor, settings: FlowSettings = FlowSettings()
) -> torch.Tensor:
    """(B, 1, H, W) L of the previous and the current frames, L in [0, 100] -> (B, 2, H, W) flow in pixels
    (module docstring), pyramidal Lucas-Kanade. Moves up to about 2**levels px are followed."""
    _check(previous, "previous")
    _check(current, "current")
    if previous.shape != current.shape:
        raise ValueError(
            f"previous and current must have one shape, got {tuple(previous.shape)} and {tuple(current.shape)}"
        )
    previous, current = previous.float(), current.float()
    pyramid = [(previous, current)]
    while len(pyramid) < settings.levels and min(pyramid[-1][0].shape[-2:]) >= 2 * MIN_LEVEL_SIDE:
        pyramid.append(tuple(F.avg_pool2d(level, 2, ceil_mode=True) for level in pyramid[-1]))
    flow = None
    for level_previous, level_current in reversed(pyramid):
        size = tuple(level_current.shape[-2:])
        if flow is None:
            flow = level_current.new_zeros(level_current.shape[0], 2, *size)
        else:
            flow = resize_flow(flow, size)
        flow = _refine(level_previous, level_current, flow, settings)
    return flow
