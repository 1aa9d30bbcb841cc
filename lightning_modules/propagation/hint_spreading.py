"""Spreading point hints along the photo's own edges (after Levin et al. 2004, "Colorization using optimization").

The network takes point hints as inputs, but a briefly trained one barely propagates them. This step adds
what a click means to a user: the difference between the hinted colour and the network's colour at a hint
spreads to neighbouring pixels of similar lightness and stops at lightness edges. It solves, per image and
per ab channel, on the grid of the predicted ab,

    min_r  sum_hinted kappa (r_i - d_i)^2 + sum_neighbours w_ij (r_i - r_j)^2 + decay sum_i r_i^2,
    w_ij = exp(-(L_i - L_j)^2 / (2 sigma^2)),

where d is hint ab minus predicted ab on the hinted cells, and returns predicted ab + r. `decay` sets how far a
hint reaches in flat areas (about 1 / sqrt(decay) cells); without hints the prediction is returned unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pseudocolor.lightning_modules.ab_encoding import AB_SCALE
from pseudocolor.lightning_modules.propagation.conjugate_gradients import conjugate_gradients

HINT_WEIGHT = 10.0  # kappa: a hinted cell keeps its hint colour almost exactly


def _edge_weights(l: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 1, h, w) L -> weights of (B, 1, h, w - 1) horizontal and (B, 1, h - 1, w) vertical neighbour pairs."""
    horizontal = torch.exp(-(l[..., :, 1:] - l[..., :, :-1]).square() / (2 * sigma**2))
    vertical = torch.exp(-(l[..., 1:, :] - l[..., :-1, :]).square() / (2 * sigma**2))
    return horizontal, vertical


def _apply_system(x: torch.Tensor, diagonal: torch.Tensor, horizontal: torch.Tensor, vertical: torch.Tensor) -> torch.Tensor:
    """The system matrix times (B, 2, h, w) x: diagonal terms plus the weighted graph Laplacian."""
    out = diagonal * x
    flow = horizontal * (x[..., :, 1:] - x[..., :, :-1])
    out[..., :, :-1] -= flow
    out[..., :, 1:] += flow
    flow = vertical * (x[..., 1:, :] - x[..., :-1, :])
    out[..., :-1, :] -= flow
    out[..., 1:, :] += flow
    return out


def _degree(diagonal: torch.Tensor, horizontal: torch.Tensor, vertical: torch.Tensor) -> torch.Tensor:
    """The system matrix's diagonal: (B, 2, h, w) diagonal terms plus each cell's summed edge weights."""
    degree = diagonal.clone()
    degree[..., :, :-1] += horizontal
    degree[..., :, 1:] += horizontal
    degree[..., :-1, :] += vertical
    degree[..., 1:, :] += vertical
    return degree


def spread_hints(
    ab: torch.Tensor,
    l: torch.Tensor,
    local_hints: torch.Tensor,
    sigma: float = 6.0,
    decay: float = 3e-4,
    iterations: int = 150,
) -> torch.Tensor:
    """Spread point hints' colours into the predicted ab along lightness edges (see the module docstring).

    Args:
        ab: (B, 2, h, w) predicted ab in Lab units.
        l: (B, 1, H, W) L in [0, 100] of the image the network saw.
        local_hints: (B, 3, H, W) the network's hint map (a / AB_SCALE, b / AB_SCALE, mask); H, W multiples of h, w.
        sigma: lightness difference (L units) at which neighbours stop sharing a hint (weight e^-1/2).
        decay: pull of unhinted cells back to the prediction; smaller reaches further.
        iterations: conjugate-gradient steps.

    Returns:
        (B, 2, h, w) ab; images without hints keep their prediction exactly.
    """
    if ab.ndim != 4 or ab.shape[1] != 2:
        raise ValueError(f"ab must have shape (B, 2, h, w), got {tuple(ab.shape)}")
    if l.ndim != 4 or l.shape[1] != 1 or local_hints.shape != (l.shape[0], 3, *l.shape[-2:]):
        raise ValueError(f"l (B, 1, H, W) and local_hints (B, 3, H, W) must match, got {tuple(l.shape)}, {tuple(local_hints.shape)}")
    if sigma <= 0 or decay <= 0:
        raise ValueError(f"sigma and decay must be positive, got {sigma} and {decay}")
    size = ab.shape[-2:]
    mask = local_hints[:, 2:3].float()
    hinted = F.interpolate(mask, size=size, mode="area")
    hint_ab = F.interpolate(local_hints[:, :2].float() * mask, size=size, mode="area") * AB_SCALE
    hint_ab = hint_ab / hinted.clamp_min(1e-12)
    is_hinted = (hinted > 0).float()
    if not is_hinted.any():
        return ab
    diagonal = decay + HINT_WEIGHT * is_hinted
    rhs = HINT_WEIGHT * is_hinted * (hint_ab - ab.float())
    horizontal, vertical = _edge_weights(F.interpolate(l.float(), size=size, mode="area"), sigma)
    diagonal = diagonal.expand_as(rhs)
    degree = _degree(diagonal, horizontal, vertical)
    correction, _ = conjugate_gradients(
        lambda x: _apply_system(x, diagonal, horizontal, vertical), lambda r: r / degree, rhs, 0.0, iterations
    )
    return ab + correction.to(ab.dtype)
