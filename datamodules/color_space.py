"""Colour space: every RGB <-> CIELAB conversion of the package (kornia's, or kornia's formulas fused into fewer
passes where speed counts), and the one rule for turning predicted ab into a picture: `ab_to_rgb` puts ab onto the
input's own L and keeps that L exactly (colours the sRGB gamut cannot show at that L lose chroma instead of changing
L).

Ranges: RGB float in [0, 1]; L in [0, 100]; a in about [-86, 98], b in about [-108, 95].
"""

from __future__ import annotations

from collections.abc import Callable

import kornia
import torch
import torch.nn.functional as F

D65_WHITE = (0.95047, 1.0, 1.08883)  # XYZ of the white point, as kornia's rgb_to_lab divides by it
SRGB_THRESHOLD = 0.04045  # where sRGB's linearisation switches from the linear segment to the power
LAB_EDGE = 6 / 29  # f(t) of the Lab formula: t^(1/3) above (6/29)^3, linear below
LAB_THRESHOLD = 0.008856  # kornia's rgb_to_lab takes the cube root of X / Xn, Y / Yn, Z / Zn above this
GAMUT_STEPS = 8  # bisections fitting an out-of-gamut colour's chroma: within 0.4 % of the gamut boundary
F_TO_LAB = ((0.0, 116.0, 0.0), (500.0, -500.0, 0.0), (0.0, 200.0, -200.0))  # f(X/Xn), f(Y/Yn), f(Z/Zn) -> L, a, b
LAB_OFFSET = (-16.0, 0.0, 0.0)
LAB_TO_F = ((1 / 116, 1 / 500, 0.0), (1 / 116, 0.0, 0.0), (1 / 116, 0.0, -1 / 200))  # L, a, b -> fx, fy, fz (+ 16/116)
LAB_EDGE_KORNIA = 0.2068966  # kornia's lab_to_rgb cubes f above this (6/29 rounded)
LINEAR_THRESHOLD = 0.0031308  # where sRGB's encoding switches from the linear segment to the power
STRIP_PIXELS = 1 << 20  # full-resolution conversions of one photo run on strips of about this many pixels


def check_image(tensor: torch.Tensor, channels: int, name: str) -> None:
    if tensor.ndim != 4 or tensor.shape[1] != channels:
        raise ValueError(f"{name} must have shape (B, {channels}, H, W), got {tuple(tensor.shape)}")


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 3, H, W) Lab, L in [0, 100]."""
    check_image(rgb, 3, "rgb")
    return kornia.color.rgb_to_lab(rgb)


def rgb_to_lab_fused(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 3, H, W) Lab, L in [0, 100]: kornia's `rgb_to_lab` formula with its constants
    in about a third of its time on the CPU (the powers as exp and log, the two matrices as 1 x 1 convolutions, the
    choice between each formula's two pieces as a blend by a 0/1 mask, where torch.where is slow on mixed masks); within
    2e-4 of kornia's values in float32 (L and ab units, float rounding). The metrics' Lab, which `pseudocolor evaluate`
    computes for every photo and every result."""
    check_image(rgb, 3, "rgb")
    power = rgb.clamp(min=SRGB_THRESHOLD).add_(0.055).div_(1.055).log_().mul_(2.4).exp_()
    linear = torch.lerp(rgb / 12.92, power, _above(rgb, SRGB_THRESHOLD))
    over_white = F.conv2d(linear, _xyz_over_white(rgb.device, rgb.dtype)[:, :, None, None])  # X / Xn, Y / Yn, Z / Zn
    cube_root = over_white.clamp(min=LAB_THRESHOLD).log_().div_(3).exp_()
    f = torch.lerp(over_white * 7.787 + 4 / 29, cube_root, _above(over_white, LAB_THRESHOLD))
    to_lab = torch.tensor(F_TO_LAB, device=rgb.device, dtype=rgb.dtype)[:, :, None, None]
    return F.conv2d(f, to_lab, torch.tensor(LAB_OFFSET, device=rgb.device, dtype=rgb.dtype))


def lab_to_rgb_unclipped(lab: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) Lab -> (B, 3, H, W) RGB, 0-1 inside the sRGB gamut and beyond it outside: kornia's
    `lab_to_rgb(lab, clip=False)` formula with its constants, in the way `rgb_to_lab_fused` is kornia's `rgb_to_lab`
    (within 1e-5 of kornia's values in float32)."""
    check_image(lab, 3, "lab")
    to_f = torch.tensor(LAB_TO_F, device=lab.device, dtype=lab.dtype)[:, :, None, None]
    f = F.conv2d(lab, to_f, torch.full((3,), 16 / 116, device=lab.device, dtype=lab.dtype))  # fx, fy, fz
    f[:, 2].clamp_(min=0)  # as kornia: Z >= 0
    over_white = torch.lerp((f - 4 / 29) / 7.787, f * f * f, _above(f, LAB_EDGE_KORNIA))
    linear = F.conv2d(over_white, _linear_rgb_from_over_white(lab.device, lab.dtype)[:, :, None, None])
    power = linear.clamp(min=LINEAR_THRESHOLD).log_().div_(2.4).exp_().mul_(1.055).sub_(0.055)
    return torch.lerp(linear * 12.92, power, _above(linear, LINEAR_THRESHOLD))


def _above(values: torch.Tensor, threshold: float) -> torch.Tensor:
    """1.0 where `values` > `threshold`, else 0.0, in `values`' dtype (sign of the difference, negatives to 0)."""
    return (values - threshold).sign_().clamp_(min=0)


def lab_to_rgb(lab: torch.Tensor, steps: int = GAMUT_STEPS) -> torch.Tensor:
    """(B, 3, H, W) Lab -> (B, 3, H, W) RGB in [0, 1] whose L is the given one.

    Colours outside the sRGB gamut at their L lose chroma (ab scaled towards grey, the largest in-gamut
    scale found by `steps` bisections) instead of being clipped per channel, which would change L.
    """
    return _fit_to_gamut(lab, steps, with_lab=False)[0]


def fit_to_gamut(lab: torch.Tensor, steps: int = GAMUT_STEPS) -> torch.Tensor:
    """(B, 3, H, W) Lab -> the same with the chroma `lab_to_rgb` takes off colours outside the sRGB gamut taken off:
    the Lab of the picture `lab_to_rgb` shows (to float rounding), without converting that picture back."""
    return _fit_to_gamut(lab, steps, with_lab=True)[1]


def _fit_to_gamut(lab: torch.Tensor, steps: int, with_lab: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(B, 3, H, W) Lab -> (RGB in [0, 1], and when `with_lab` the Lab) of the colours with their out-of-gamut chroma
    taken off."""
    check_image(lab, 3, "lab")
    rgb = lab_to_rgb_unclipped(lab)
    outside = ((rgb < 0) | (rgb > 1)).any(dim=1)  # (B, H, W)
    if not outside.any():
        return rgb, lab
    pixels = lab.permute(0, 2, 3, 1)[outside]  # (N, 3)
    low, high = pixels.new_zeros(len(pixels), 1), pixels.new_ones(len(pixels), 1)

    def to_rgb(scale: torch.Tensor) -> torch.Tensor:  # (N, 1) -> (N, 3)
        scaled = torch.cat([pixels[:, :1], pixels[:, 1:] * scale], dim=1)
        return lab_to_rgb_unclipped(scaled.T[None, :, :, None])[0, :, :, 0].T

    for _ in range(steps):
        middle = (low + high) / 2
        candidate = to_rgb(middle)
        inside = ((candidate >= 0) & (candidate <= 1)).all(dim=1, keepdim=True)
        low, high = torch.where(inside, middle, low), torch.where(inside, high, middle)
    rgb.permute(0, 2, 3, 1)[outside] = to_rgb(low)  # written through the view: no copy of the whole picture
    fitted = None
    if with_lab:
        fitted = lab.clone()
        fitted.permute(0, 2, 3, 1)[outside] = torch.cat([pixels[:, :1], pixels[:, 1:] * low], dim=1)
    return rgb.clamp_(0, 1), fitted


def to_uint8(rgb: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] -> uint8 in [0, 255], rounded: the levels a saved photo has (and metrics see)."""
    return (rgb * 255).round().clamp(0, 255).to(torch.uint8)


def _xyz_over_white(device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
    """(3, 3) kornia's linear RGB -> XYZ matrix, each row divided by the white point's value: linear RGB -> X / Xn,
    Y / Yn, Z / Zn, the quantities the Lab formula takes."""
    basis = torch.eye(3, device=device, dtype=dtype).T[None, :, None, :]  # pixel j = the unit colour j
    white = torch.tensor(D65_WHITE, device=device, dtype=dtype)
    return kornia.color.rgb_to_xyz(basis)[0, :, 0, :] / white[:, None]


def _linear_rgb_from_over_white(device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
    """(3, 3) X / Xn, Y / Yn, Z / Zn -> linear RGB: kornia's XYZ -> RGB matrix, each column times the white point's
    value (the inverse of `_xyz_over_white`, to float rounding)."""
    basis = torch.eye(3, device=device, dtype=dtype).T[None, :, None, :]  # pixel j = the unit colour j
    white = torch.tensor(D65_WHITE, device=device, dtype=dtype)
    return kornia.color.xyz_to_rgb(basis * white[:, None, None])[0, :, 0, :]


def to_uint8_nearest(rgb: torch.Tensor, lab: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] and the (B, 3, H, W) Lab it shows -> (B, 3, H, W) uint8 RGB: per pixel, of the 8
    colours whose channels are `rgb`'s rounded down or up, the one whose Lab is nearest `rgb`'s (Euclidean, each
    candidate's Lab to first order: the derivative of `rgb_to_lab`'s formula, taken at `lab`).

    Rounding each channel to its nearest level moves a dark or saturated pixel's ab by up to a few units, and which
    way depends on its exact value: where texture moves by a fraction of a pixel from frame to frame, that rounding
    noise alone is about half the flicker left in a consistently coloured clip. Each channel stays within one level
    of `rgb`. `lab` only places the derivative, so the Lab a colour had before `lab_to_rgb` took chroma off to fit
    the gamut will do.
    """
    check_image(rgb, 3, "rgb")
    check_image(lab, 3, "lab")
    rgb = rgb.clamp(0, 1)
    # f(X / Xn), f(Y / Yn), f(Z / Zn) of the Lab formula, and their derivatives in X / Xn, Y / Yn, Z / Zn
    fy = (lab[:, :1] + 16) / 116
    f = torch.cat([fy + lab[:, 1:2] / 500, fy, fy - lab[:, 2:] / 200], dim=1)
    cube = f > LAB_EDGE
    xyz = torch.where(cube, f * f * f, (f - 4 / 29) / 7.787)
    f_slope = torch.where(cube, 1 / (3 * f * f), 7.787)
    to_xyz = _xyz_over_white(rgb.device, rgb.dtype)
    linear = torch.einsum("ck,bkhw->bchw", torch.linalg.inv(to_xyz), xyz).clamp(min=0)  # < 0 only out of gamut
    # d linear / d level: 1 / 12.92 on sRGB's linear segment, else 2.4 linear / (sRGB + 0.055); per level: / 255
    slope = torch.where(rgb > SRGB_THRESHOLD, 2.4 * linear / (rgb + 0.055), 1 / 12.92) / 255
    columns = []  # per channel c: (B, 3, H, W) Lab change of one level of channel c
    for c in range(3):
        dfx, dfy, dfz = (f_slope * to_xyz[:, c, None, None] * slope[:, c : c + 1]).unbind(dim=1)
        columns.append(torch.stack([116 * dfy, 500 * (dfx - dfy), 200 * (dfy - dfz)], dim=1))
    # |sum_c d_c column_c|^2 for the 8 corners d (levels, down or up per channel) =
    # sum_c d_c^2 |column_c|^2 + 2 sum_{c < e} d_c d_e column_c . column_e
    levels = rgb * 255
    low = levels.floor().clamp(0, 254)
    down = low - levels  # (B, 3, H, W) in (-1, 0]
    d = torch.stack([down, down + 1])  # (2, B, 3, H, W): rounding down / up
    single = [d[:, :, c] * d[:, :, c] * (columns[c] * columns[c]).sum(dim=1) for c in range(3)]  # (2, B, H, W) each
    pair = {(c, e): 2 * (columns[c] * columns[e]).sum(dim=1) for c, e in ((0, 1), (0, 2), (1, 2))}  # (B, H, W)
    r, g, b = d[:, :, 0], d[:, :, 1], d[:, :, 2]
    error = (
        single[0][:, None, None]
        + single[1][None, :, None]
        + single[2][None, None]
        + pair[0, 1] * (r[:, None] * g[None])[:, :, None]
        + pair[0, 2] * (r[:, None] * b[None])[:, None]
        + pair[1, 2] * (g[:, None] * b[None])[None]
    ).flatten(0, 2)  # (8, B, H, W): index 4 dr + 2 dg + db
    least, choice = error[0], torch.zeros_like(error[0], dtype=torch.long)
    for index in range(1, 8):  # a running minimum: several times faster than argmin over the first dimension
        better = error[index] < least
        least = torch.minimum(least, error[index])
        choice = choice.masked_fill(better, index)
    steps = torch.stack([choice // 4, choice // 2 % 2, choice % 2], dim=1)
    return (low + steps).to(torch.uint8)


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


def uint8_lightness(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) uint8 RGB -> (B, 1, H, W) float32 L in [0, 100]: `rgb_to_lab(rgb / 255)[:, :1]` to float rounding,
    about three times faster. L depends only on the luminance Y, the sum of each channel's linear value (kornia's,
    looked up for its 256 levels) times its row of kornia's RGB -> XYZ matrix."""
    check_image(rgb, 3, "rgb")
    if rgb.dtype != torch.uint8:
        raise ValueError(f"rgb must be uint8, got {rgb.dtype}")
    levels = torch.linspace(0, 1, 256, device=rgb.device).expand(1, 3, 1, 256)
    luminance = _xyz_over_white(rgb.device, torch.float32)[1]  # (3,) the Y row
    tables = kornia.color.rgb_to_linear_rgb(levels)[0, :, 0, :] * luminance[:, None]  # (3, 256) each level's share
    indices = rgb.long()
    y = tables[0][indices[:, 0]] + tables[1][indices[:, 1]] + tables[2][indices[:, 2]]  # (B, H, W)
    f = torch.where(y > LAB_THRESHOLD, y.clamp(min=LAB_THRESHOLD).pow(1 / 3), 7.787 * y + 4 / 29)
    return (116 * f - 16)[:, None]


def uint8_to_l(image: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """(3, H, W) uint8 RGB -> (1, 1, H, W) float32 L in [0, 100] on `device`: `uint8_lightness` in strips
    (`in_strips`)."""
    if image.ndim != 3 or image.shape[0] != 3 or image.dtype != torch.uint8:
        raise ValueError(f"image must be (3, H, W) uint8, got {tuple(image.shape)} {image.dtype}")
    return in_strips(lambda rgb: uint8_lightness(rgb.to(device)), image[None])


def ab_to_uint8(l: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W) L and (1, 2, h, w) ab -> (3, H, W) uint8 RGB: `to_uint8(ab_to_rgb(l, ab))[0]` in strips
    (`in_strips`): a 16-megapixel photo needs about 0.4 GB instead of 2.2 GB."""
    check_image(l, 1, "l")
    check_image(ab, 2, "ab")
    if l.shape[0] != 1 or ab.shape[0] != 1:
        raise ValueError(f"l and ab must hold one image each, got batches of {l.shape[0]} and {ab.shape[0]}")
    return in_strips(lambda l, ab: to_uint8(ab_to_rgb(l, ab)), l, resize_ab(ab, l.shape[-2:]))[0]
