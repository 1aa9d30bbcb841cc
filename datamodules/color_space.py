"""Colour space: every RGB <-> CIELAB conversion of the package (through kornia), and the one rule for turning
predicted ab into a picture: `ab_to_rgb` puts ab onto the input's own L and keeps that L exactly (colours the sRGB
gamut cannot show at that L lose chroma instead of changing L).

Ranges: RGB float in [0, 1]; L in [0, 100]; a in about [-86, 98], b in about [-108, 95].
"""

from __future__ import annotations

import kornia
import torch
import torch.nn.functional as F

GAMUT_STEPS = 8  # bisections fitting an out-of-gamut colour's chroma: within 0.4 % of the gamut boundary


def check_image(tensor: torch.Tensor, channels: int, name: str) -> None:
    if tensor.ndim != 4 or tensor.shape[1] != channels:
        raise ValueError(f"{name} must have shape (B, {channels}, H, W), got {tuple(tensor.shape)}")


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 3, H, W) Lab, L in [0, 100]."""
    check_image(rgb, 3, "rgb")
    return kornia.color.rgb_to_lab(rgb)


def lab_to_rgb(lab: torch.Tensor, steps: int = GAMUT_STEPS) -> torch.Tensor:
    """(B, 3, H, W) Lab -> (B, 3, H, W) RGB in [0, 1] whose L is the given one.

    Colours outside the sRGB gamut at their L lose chroma (ab scaled towards grey, the largest in-gamut
    scale found by `steps` bisections) instead of being clipped per channel, which would change L.
    """
    check_image(lab, 3, "lab")
    rgb = kornia.color.lab_to_rgb(lab, clip=False)
    outside = ((rgb < 0) | (rgb > 1)).any(dim=1)  # (B, H, W)
    if not outside.any():
        return rgb
    pixels = lab.permute(0, 2, 3, 1)[outside]  # (N, 3)
    low, high = pixels.new_zeros(len(pixels), 1), pixels.new_ones(len(pixels), 1)

    def to_rgb(scale: torch.Tensor) -> torch.Tensor:  # (N, 1) -> (N, 3)
        scaled = torch.cat([pixels[:, :1], pixels[:, 1:] * scale], dim=1)
        return kornia.color.lab_to_rgb(scaled.T[None, :, :, None], clip=False)[0, :, :, 0].T

    for _ in range(steps):
        middle = (low + high) / 2
        candidate = to_rgb(middle)
        inside = ((candidate >= 0) & (candidate <= 1)).all(dim=1, keepdim=True)
        low, high = torch.where(inside, middle, low), torch.where(inside, high, middle)
    rgb = rgb.permute(0, 2, 3, 1).clone()
    rgb[outside] = to_rgb(low)
    return rgb.permute(0, 3, 1, 2).clamp(0, 1)


def to_uint8(rgb: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] -> uint8 in [0, 255], rounded: the levels a saved photo has (and metrics see)."""
    return (rgb * 255).round().clamp(0, 255).to(torch.uint8)


def compose_lab(l: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) L and (B, 2, h, w) ab -> (B, 3, H, W) Lab, ab bilinearly resized onto L's size."""
    check_image(l, 1, "l")
    check_image(ab, 2, "ab")
    if ab.shape[-2:] != l.shape[-2:]:
        ab = F.interpolate(ab, size=l.shape[-2:], mode="bilinear", align_corners=False)
    return torch.cat([l, ab], dim=1)


def grey_lab(l: torch.Tensor) -> torch.Tensor:
    """The colourless baseline: (B, 1, H, W) L -> (B, 3, H, W) Lab with a = b = 0."""
    return compose_lab(l, torch.zeros_like(l).expand(-1, 2, -1, -1))


def ab_to_rgb(l: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """The one rule for an output picture: (B, 1, H, W) L in [0, 100] and (B, 2, h, w) predicted ab (bilinearly
    resized onto L) -> (B, 3, H, W) RGB in [0, 1] whose L is the given one (out-of-gamut colours lose chroma)."""
    return lab_to_rgb(compose_lab(l, ab))
