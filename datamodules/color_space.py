"""Colour space: every RGB <-> CIELAB conversion of the package (through kornia), and the one rule for turning
predicted ab into a picture: `ab_to_rgb` puts ab onto the input's own L and keeps that L exactly (colours the sRGB
gamut cannot show at that L lose chroma instead of changing L).

Ranges: RGB float in [0, 1]; L in [0, 100]; a in about [-86, 98], b in about [-108, 95].
"""

from __future__ import annotations

from collections.abc import Callable

import kornia
import torch
import torch.nn.functional as F

GAMUT_STEPS = 8  # bisections fitting an out-of-gamut colour's chroma: within 0.4 % of the gamut boundary
STRIP_PIXELS = 1 << 20  # full-resolution conversions of one photo run on strips of about this many pixels


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


def resize_ab(ab: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, 2, h, w) ab -> (B, 2, H, W) for `size` (H, W): bilinear, how predicted colour reaches a photo's pixels."""
    if tuple(ab.shape[-2:]) == tuple(size):
        return ab
    return F.interpolate(ab, size=tuple(size), mode="bilinear", align_corners=False)


def compose_lab(l: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) L and (B, 2, h, w) ab -> (B, 3, H, W) Lab, ab bilinearly resized onto L's size."""
    check_image(l, 1, "l")
    check_image(ab, 2, "ab")
    return torch.cat([l, resize_ab(ab, l.shape[-2:])], dim=1)


def grey_lab(l: torch.Tensor) -> torch.Tensor:
    """The colourless baseline: (B, 1, H, W) L -> (B, 3, H, W) Lab with a = b = 0."""
    return compose_lab(l, torch.zeros_like(l).expand(-1, 2, -1, -1))


def ab_to_rgb(l: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """The one rule for an output picture: (B, 1, H, W) L in [0, 100] and (B, 2, h, w) predicted ab (bilinearly
    resized onto L) -> (B, 3, H, W) RGB in [0, 1] whose L is the given one (out-of-gamut colours lose chroma)."""
    return lab_to_rgb(compose_lab(l, ab))


def in_strips(fn: Callable[..., torch.Tensor], *maps: torch.Tensor, strip_pixels: int = STRIP_PIXELS) -> torch.Tensor:
    """`fn(*maps)` for a per-pixel `fn` of (B, C, H, W) maps of one H and W, computed on horizontal strips of about
    `strip_pixels` pixels (all B together) and joined along H: the same result, with the temporaries of one strip,
    so a large photo needs memory for its inputs and output, not for its conversions (kornia's Lab code holds
    about ten full-size temporaries)."""
    batch, _, height, width = maps[0].shape
    if any(m.ndim != 4 or m.shape[-2:] != (height, width) for m in maps):
        raise ValueError(f"maps must be (B, C, H, W) of one size, got {[tuple(m.shape) for m in maps]}")
    step = max(1, strip_pixels // max(1, batch * width))
    if step >= height:
        return fn(*maps)
    return torch.cat([fn(*(m[:, :, top : top + step] for m in maps)) for top in range(0, height, step)], dim=2)


def uint8_to_l(image: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """(3, H, W) uint8 RGB -> (1, 1, H, W) float32 L in [0, 100] on `device`: `rgb_to_lab(image / 255)[:, :1]`
    in strips (`in_strips`)."""
    if image.ndim != 3 or image.shape[0] != 3 or image.dtype != torch.uint8:
        raise ValueError(f"image must be (3, H, W) uint8, got {tuple(image.shape)} {image.dtype}")
    return in_strips(lambda rgb: rgb_to_lab(rgb.to(device, torch.float32) / 255)[:, :1], image[None])


def ab_to_uint8(l: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W) L and (1, 2, h, w) ab -> (3, H, W) uint8 RGB: `to_uint8(ab_to_rgb(l, ab))[0]` in strips
    (`in_strips`): a 16-megapixel photo needs about 0.4 GB instead of 2.2 GB."""
    check_image(l, 1, "l")
    check_image(ab, 2, "ab")
    if l.shape[0] != 1 or ab.shape[0] != 1:
        raise ValueError(f"l and ab must hold one image each, got batches of {l.shape[0]} and {ab.shape[0]}")
    return in_strips(lambda l, ab: to_uint8(ab_to_rgb(l, ab)), l, resize_ab(ab, l.shape[-2:]))[0]
