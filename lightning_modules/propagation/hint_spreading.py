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
from pseudocolor.lightning_modules.propagation.edge_aware import solve_edge_aware

HINT_WEIGHT = 10.0  # kappa: a hinted cell keeps its hint colour almost exactly


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
    small_l = F.interpolate(l.float(), size=size, mode="area")
    correction = solve_edge_aware(diagonal, rhs, small_l, sigma, iterations=iterations)
    return ab + correction.to(ab.dtype)
