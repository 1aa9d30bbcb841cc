"""The paper's guided pipeline: the background coloured automatically, each region from its own
reference picture, the parts fused in ab with a seamless (Poisson) or feathered edge.

Images are RGB (3, H, W) or grey (1, H, W), float in [0, 1] or uint8; masks are (H, W) bool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pseudocolor.datamodules.color_space import ab_to_rgb, rgb_to_lab
from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.lightning_modules.guided.hints import encode_point_hints, global_hint_from_ab, scale_points
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.propagation.fusion import check_mask, fuse_regions

REFERENCE_SIDE = 256  # references are shrunk to at most this side before their histogram is taken
PointHint = tuple[tuple[int, int], tuple[float, float, float]]  # ((x, y) pixels, (r, g, b) in [0, 1])


@dataclass
class Region:
    """A part of the image coloured from a reference.

    Attributes:
        mask: (H, W) bool, True inside the region (the image's size).
        reference: (3, h, w) RGB reference picture, float in [0, 1] or uint8, any size.
        reference_mask: optional (h, w) bool selecting the part of the reference to take colours from.
        name: how errors refer to it (e.g. the mask's file name).
    """

    mask: torch.Tensor
    reference: torch.Tensor
    reference_mask: torch.Tensor | None = None
    name: str = ""


def _as_rgb(image: torch.Tensor, name: str) -> torch.Tensor:
    """(1 or 3, H, W) float in [0, 1] or uint8 -> (1, 3, H, W) float RGB."""
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"{name} must have shape (3, H, W) or (1, H, W), got {tuple(image.shape)}")
    image = image.float() / 255 if image.dtype == torch.uint8 else image.float()
    return image.expand(3, -1, -1)[None]


def reference_hint(
    reference: torch.Tensor, bins: torch.Tensor, mask: torch.Tensor | None = None, name: str = "reference"
) -> torch.Tensor:
    """(3, h, w) reference RGB (+ optional (h, w) bool mask) -> (1, Q + 1) global hint over `bins` (Q, 2).

    The reference is first shrunk to at most REFERENCE_SIDE pixels a side (the histogram barely changes).
    """
    rgb = _as_rgb(reference, name).to(bins.device)
    if mask is not None:
        mask = check_mask(mask.to(bins.device), rgb.shape[-2:], f"{name}'s reference mask")[None, None].float()
    scale = REFERENCE_SIDE / max(rgb.shape[-2:])
    if scale < 1:
        small = (max(1, round(rgb.shape[-2] * scale)), max(1, round(rgb.shape[-1] * scale)))
        rgb = F.interpolate(rgb, size=small, mode="area")
        mask = None if mask is None else (F.interpolate(mask, size=small, mode="area") >= 0.5).float()
    return global_hint_from_ab(rgb_to_lab(rgb)[:, 1:], bins, mask)


def check_hints(hints: Sequence[PointHint], image_size: tuple[int, int]) -> None:
    """Raise ValueError naming the first hint whose (x, y) lies outside an `image_size` (H, W) image."""
    height, width = image_size
    for (x, y), _ in hints:
        if not (0 <= x < width and 0 <= y < height):
            raise PseudocolorError(f"hint at x={x}, y={y} lies outside the {width}x{height} image")


def point_hint_map(hints: Sequence[PointHint], image_size: tuple[int, int], size: int) -> torch.Tensor | None:
    """User clicks in pixels of an `image_size` (H, W) image -> (1, 3, size, size) hint map, None without clicks."""
    if not hints:
        return None
    check_hints(hints, image_size)
    points = scale_points(torch.tensor([[point for point, _ in hints]]), image_size, (size, size))
    colors = torch.tensor([[colour for _, colour in hints]], dtype=torch.float32)
    return encode_point_hints(points, colors, size, size)


@torch.no_grad()
def colorize_with_regions(
    colorizer: Colorizer,
    image: torch.Tensor,
    regions: Sequence[Region] = (),
    reference: torch.Tensor | None = None,
    hints: Sequence[PointHint] = (),
    blend: str = "poisson",
    edge_width: float | None = 32,
) -> torch.Tensor:
    """Colour `image` (3, H, W) or (1, H, W) -> (3, H, W) RGB in [0, 1] with the image's L.

    The background is coloured automatically, or with `reference` (3, h, w) as a whole-image global
    hint. Each region is coloured with its reference's ab histogram as global hint and fused into the
    background in list order (later regions win where masks overlap). blend="poisson" solves the
    Poisson equation in a band of `edge_width` pixels along each mask's edge, so the region keeps its
    reference colours inside and meets the background seamlessly (edge_width=None: classic Poisson
    over the whole mask, which keeps only the region's gradients and so mostly loses the reference's
    colour); blend="feather" alpha-blends with the mask softened over `edge_width` pixels.
    Point `hints` (pixels of the image) guide every part. One network call colours all parts.
    """
    rgb = _as_rgb(image, "image").to(colorizer.device)
    size = rgb.shape[-2:]
    bins = colorizer.network.ab_bins
    masks = [check_mask(r.mask.to(rgb.device), size, r.name or f"mask of region {i}") for i, r in enumerate(regions)]
    background_hint = (
        reference_hint(reference, bins, name="reference")
        if reference is not None
        else torch.zeros(1, bins.shape[0] + 1, device=bins.device)
    )
    region_hints = [
        reference_hint(r.reference, bins, r.reference_mask, r.name or f"region {i}") for i, r in enumerate(regions)
    ]
    global_hint = torch.cat([background_hint, *region_hints])
    local_hints = point_hint_map(hints, tuple(size), colorizer.size)
    if local_hints is not None:
        local_hints = local_hints.to(rgb.device).expand(global_hint.shape[0], -1, -1, -1)
    l = rgb_to_lab(rgb)[:, :1]
    coloured = colorizer.colorize_l(l.expand(global_hint.shape[0], -1, -1, -1), local_hints, global_hint)
    ab = rgb_to_lab(coloured)[:, 1:]
    fused = fuse_regions(ab[0], list(zip(ab[1:], masks)), blend, edge_width)
    return ab_to_rgb(l, fused[None])[0]
