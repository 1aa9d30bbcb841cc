"""How the network sees colour: the L and ab scaling of its inputs and losses, the grid of ab bins it predicts
over, soft / hard encoding onto that grid, annealed-mean decoding, ab histograms and class rebalancing.

Ranges: L in [0, 100]; a in about [-86, 98], b in about [-108, 95] (CIELAB, as `color_space` gives them).
"""

from __future__ import annotations

import functools

import kornia
import torch

from pseudocolor.datamodules.color_space import check_image

L_CENTER = 50.0
L_SCALE = 50.0
AB_SCALE = 110.0
AB_GRID = 10.0
ANNEALED_TEMPERATURE = 0.38
SOFT_ENCODING_NEIGHBOURS = 5
SOFT_ENCODING_SIGMA = 5.0


def normalize_l(l: torch.Tensor) -> torch.Tensor:
    """L in [0, 100] -> [-1, 1], the network's input scale."""
    return (l - L_CENTER) / L_SCALE


def normalize_ab(ab: torch.Tensor) -> torch.Tensor:
    """ab in Lab units -> about [-1, 1], the regression-loss scale."""
    return ab / AB_SCALE


@functools.lru_cache(maxsize=4)
def _gamut_ab_bins_cached(grid: float, rgb_step: int) -> torch.Tensor:
    levels = torch.arange(0, 256, rgb_step, dtype=torch.float64) / 255.0
    r, g, b = torch.meshgrid(levels, levels, levels, indexing="ij")
    rgb = torch.stack([r, g, b]).reshape(1, 3, -1, 1)
    ab = kornia.color.rgb_to_lab(rgb)[0, 1:, :, 0].T
    cells = torch.unique(torch.round(ab / grid).to(torch.int64), dim=0)
    return cells.to(torch.float32) * grid


def gamut_ab_bins(grid: float = AB_GRID, rgb_step: int = 4) -> torch.Tensor:
    """(Q, 2) centres of the ab grid cells (spacing `grid`) that sRGB colours fall into.

    Computed from a regular sampling of the sRGB cube (every `rgb_step`-th 8-bit level); grid 10
    gives Q = 257 cells. Sorted by (a, b).
    """
    return _gamut_ab_bins_cached(float(grid), int(rgb_step)).clone()


def soft_encode_ab(
    ab: torch.Tensor,
    bins: torch.Tensor,
    neighbours: int = SOFT_ENCODING_NEIGHBOURS,
    sigma: float = SOFT_ENCODING_SIGMA,
) -> torch.Tensor:
    """(B, 2, H, W) ab -> (B, Q, H, W) soft one-hot target over `bins` (Q, 2).

    Each pixel spreads over its `neighbours` nearest bins with Gaussian weights (Zhang et al. 2016).
    """
    check_image(ab, 2, "ab")
    batch, _, height, width = ab.shape
    pixels = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    distances = torch.cdist(pixels, bins.to(pixels))
    nearest, index = distances.topk(neighbours, dim=1, largest=False)
    weights = torch.exp(-(nearest**2) / (2 * sigma**2))
    weights = weights / weights.sum(dim=1, keepdim=True)
    target = torch.zeros(pixels.shape[0], bins.shape[0], dtype=ab.dtype, device=ab.device)
    target.scatter_(1, index, weights)
    return target.reshape(batch, height, width, -1).permute(0, 3, 1, 2)


def hard_encode_ab(ab: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) ab -> (B, H, W) int64 index of the nearest bin in `bins` (Q, 2)."""
    check_image(ab, 2, "ab")
    pixels = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    index = torch.cdist(pixels, bins.to(pixels)).argmin(dim=1)
    return index.reshape(ab.shape[0], ab.shape[2], ab.shape[3])


def annealed_mean(
    logits: torch.Tensor, bins: torch.Tensor, temperature: float = ANNEALED_TEMPERATURE
) -> torch.Tensor:
    """(B, Q, H, W) logits over `bins` (Q, 2) -> (B, 2, H, W) ab.

    The mean of the distribution re-sharpened as softmax(logits / T): T = 1 is the plain mean,
    T -> 0 the mode. Differentiable.

    The softmax and the sum over bins run along the last dimension of the (B, H, W, Q) view: free for channels-last
    logits (what `Colorizer`'s channels-last network gives), whose Q values of a pixel lie side by side, and about
    three times faster than along dim 1 of contiguous ones (which are copied into that layout first).
    """
    if logits.ndim != 4 or logits.shape[1] != bins.shape[0]:
        raise ValueError(f"logits must have shape (B, {bins.shape[0]}, H, W), got {tuple(logits.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    pixels = logits.float().permute(0, 2, 3, 1).contiguous()  # a no-op for channels-last logits
    probabilities = torch.softmax(pixels if temperature == 1 else pixels / temperature, dim=-1)
    return (probabilities @ bins.to(probabilities)).permute(0, 3, 1, 2).contiguous()


def ab_histogram(ab: torch.Tensor, bins: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 2, H, W) ab -> (B, Q) normalised histogram over the nearest `bins`.

    `mask` (B, 1, H, W) in {0, 1} selects the pixels counted; an image with no selected pixel
    gets an all-zero histogram.
    """
    index = hard_encode_ab(ab, bins).flatten(1)
    weights = torch.ones_like(index, dtype=ab.dtype) if mask is None else mask.flatten(1).to(ab.dtype)
    counts = torch.zeros(ab.shape[0], bins.shape[0], dtype=ab.dtype, device=ab.device)
    counts.scatter_add_(1, index, weights)
    return counts / counts.sum(dim=1, keepdim=True).clamp_min(1e-8)


def rebalancing_weights(prior: torch.Tensor, uniform_mix: float = 0.5) -> torch.Tensor:
    """(Q,) empirical bin probabilities -> (Q,) class-rebalancing weights (Zhang et al. 2016).

    w = 1 / ((1 - lambda) p + lambda / Q), normalised so that sum(p * w) = 1.
    """
    if prior.ndim != 1:
        raise ValueError(f"prior must have shape (Q,), got {tuple(prior.shape)}")
    prior = prior / prior.sum().clamp_min(1e-12)
    weights = 1.0 / ((1 - uniform_mix) * prior + uniform_mix / prior.numel())
    return weights / (prior * weights).sum()
