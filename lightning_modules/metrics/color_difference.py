"""Colour differences in CIE Lab: CIEDE2000 and the AuC of the cumulative ab-error curve. Lab comes from
`color_space.rgb_to_lab_fused` (D65 sRGB, L in [0, 100]), once per image of an `ImagePair` (`base.lab`); inputs are
RGB on the 0-255 scale. Each `*_of` maps an ImagePair to (B,) per-image values; the function of the same name without
`_of` takes (preds, target) (B, 3, H, W)."""

from __future__ import annotations

import torch

from pseudocolor.lightning_modules.metrics.base import ImagePair, lab

AUC_MAX_THRESHOLD = 150  # ab distance where the cumulative error curve stops (Zhang et al. 2016)
_POW25_7 = 25.0**7


def _check_lab(lab: torch.Tensor, name: str) -> None:
    if lab.ndim < 3 or lab.shape[-3] != 3:
        raise ValueError(f"{name} must be Lab with channels first, shape (..., 3, H, W), got {tuple(lab.shape)}")


def delta_e_ciede2000(lab1: torch.Tensor, lab2: torch.Tensor) -> torch.Tensor:
    """CIEDE2000 colour difference (Sharma et al. 2005, kL = kC = kH = 1).

    (..., 3, H, W) Lab, L in [0, 100] -> (..., H, W) Delta E_00 >= 0.
    """
    _check_lab(lab1, "lab1")
    if lab1.shape != lab2.shape:
        raise ValueError(f"lab1 {tuple(lab1.shape)} and lab2 {tuple(lab2.shape)} must have the same shape")
    l1, a1, b1 = lab1.unbind(dim=-3)
    l2, a2, b2 = lab2.unbind(dim=-3)
    chroma_mean = 0.5 * (torch.hypot(a1, b1) + torch.hypot(a2, b2))
    chroma_mean_7 = _seventh_power(chroma_mean)
    g = 0.5 * (1 - torch.sqrt(chroma_mean_7 / (chroma_mean_7 + _POW25_7)))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1, c2 = torch.hypot(a1, b1), torch.hypot(a2, b2)
    h1, h2 = _hue_degrees(a1, b1), _hue_degrees(a2, b2)
    chroma_product = c1 * c2
    achromatic = chroma_product == 0

    # The selections below are written as sums of exact terms (x + 0, x * 1) rather than torch.where, which is
    # several times slower on the CPU for these masks: the results are the same bit for bit.
    dh = h2 - h1
    dh = (dh - 360.0 * (dh > 180) + 360.0 * (dh < -180)) * ~achromatic
    delta_l = l2 - l1
    delta_c = c2 - c1
    delta_h = 2 * torch.sqrt(chroma_product) * torch.sin(torch.deg2rad(dh) / 2)

    l_mean = 0.5 * (l1 + l2)
    c_mean = 0.5 * (c1 + c2)
    h_sum = h1 + h2
    wrapped = ((h1 - h2).abs() > 180) & ~achromatic  # mean hue across 0 degrees: h_sum +- 360, halved
    h_mean = (h_sum + 360.0 * (wrapped & (h_sum < 360)) - 360.0 * (wrapped & (h_sum >= 360))) / (2 - achromatic.float())

    t = (
        1
        - 0.17 * torch.cos(torch.deg2rad(h_mean - 30))
        + 0.24 * torch.cos(torch.deg2rad(2 * h_mean))
        + 0.32 * torch.cos(torch.deg2rad(3 * h_mean + 6))
        - 0.20 * torch.cos(torch.deg2rad(4 * h_mean - 63))
    )
    # exponents below -87 only give subnormal results (< 1.2e-38, nothing next to the other terms), slow to compute
    delta_theta = 30 * torch.exp((-((h_mean - 275) / 25).square()).clamp_min(-87.0))
    c_mean_7 = _seventh_power(c_mean)
    r_c = 2 * torch.sqrt(c_mean_7 / (c_mean_7 + _POW25_7))
    l_offset_2 = (l_mean - 50).square()
    s_l = 1 + 0.015 * l_offset_2 / torch.sqrt(20 + l_offset_2)
    s_c = 1 + 0.045 * c_mean
    s_h = 1 + 0.015 * c_mean * t
    r_t = -torch.sin(torch.deg2rad(2 * delta_theta)) * r_c
    term_l, term_c, term_h = delta_l / s_l, delta_c / s_c, delta_h / s_h
    return torch.sqrt((term_l.square() + term_c.square() + term_h.square() + r_t * term_c * term_h).clamp_min(0))


def _seventh_power(x: torch.Tensor) -> torch.Tensor:
    """x ** 7 as four products (a few times faster than torch.pow on the CPU, within float rounding of it)."""
    cube = x * x * x
    return cube * cube * x


def _hue_degrees(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The hue angle atan2(b, a) in degrees in [0, 360]: negative angles + 360 (as `% 360`, without its division)."""
    hue = torch.rad2deg(torch.atan2(b, a))
    return hue + 360.0 * (hue < 0)


def ciede2000_of(pair: ImagePair) -> torch.Tensor:
    """Mean CIEDE2000 difference per image -> (B,)."""
    return delta_e_ciede2000(pair.preds_as(lab), pair.target_as(lab)).mean(dim=(1, 2))


def ab_error_auc_of(pair: ImagePair, max_threshold: int = AUC_MAX_THRESHOLD) -> torch.Tensor:
    """Area under the cumulative ab-error curve per image (Zhang et al. 2016) -> (B,) in [0, 1].

    For each integer threshold t in 0..max_threshold, the fraction of pixels whose ab distance
    ||ab_pred - ab_true||_2 is <= t; the curve is integrated with the trapezoid rule and divided by
    max_threshold. 1 means every pixel's colour is exact.
    """
    delta_a, delta_b = (pair.preds_as(lab)[:, 1:] - pair.target_as(lab)[:, 1:]).unbind(dim=1)
    error = (delta_a * delta_a + delta_b * delta_b).sqrt_()  # as vector_norm over a, b (which is 50x slower)
    # error <= t  <=>  ceil(error) <= t for integer t: count pixels per ceil(error) (one histogram of
    # max_threshold + 2 bins per image, laid end to end), then accumulate.
    bins = max_threshold + 2
    steps = error.flatten(1).ceil().clamp(max=max_threshold + 1).to(torch.int64)
    steps += torch.arange(steps.shape[0], device=steps.device).unsqueeze(1) * bins
    counts = torch.bincount(steps.flatten(), minlength=steps.shape[0] * bins).reshape(-1, bins).double()
    cumulative = counts.cumsum(dim=1)[:, : max_threshold + 1] / steps.shape[1]
    area = cumulative.sum(dim=1) - 0.5 * (cumulative[:, 0] + cumulative[:, -1])
    return (area / max_threshold).to(pair.preds.dtype)


def ciede2000(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`ciede2000_of` of (B, 3, H, W) RGB batches on the 0-255 scale -> (B,)."""
    return ciede2000_of(ImagePair(preds, target))


def ab_error_auc(preds: torch.Tensor, target: torch.Tensor, max_threshold: int = AUC_MAX_THRESHOLD) -> torch.Tensor:
    """`ab_error_auc_of` of (B, 3, H, W) RGB batches on the 0-255 scale -> (B,) in [0, 1]."""
    return ab_error_auc_of(ImagePair(preds, target), max_threshold)
