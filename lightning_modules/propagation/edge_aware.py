"""The edge-aware screened solve that hint spreading and reference transfer share (after Levin et al. 2004):

    (D + smoothness * L_w) x = rhs,    w_ij = exp(-(L_i - L_j)^2 / (2 sigma^2)) over 4-neighbour pairs,

where D is a per-cell diagonal (how strongly each cell holds its own value) and L_w the graph Laplacian whose
pair weights fall off across lightness edges, so values spread among cells of similar lightness and stop at
edges. Solved by Jacobi-preconditioned conjugate gradients, every image and channel at once.
"""

from __future__ import annotations

import torch

from pseudocolor.lightning_modules.propagation.conjugate_gradients import conjugate_gradients


def edge_weights(l: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 1, h, w) L -> weights of (B, 1, h, w - 1) horizontal and (B, 1, h - 1, w) vertical neighbour pairs."""
    horizontal = torch.exp(-(l[..., :, 1:] - l[..., :, :-1]).square() / (2 * sigma**2))
    vertical = torch.exp(-(l[..., 1:, :] - l[..., :-1, :]).square() / (2 * sigma**2))
    return horizontal, vertical


def _laplacian(x: torch.Tensor, horizontal: torch.Tensor, vertical: torch.Tensor) -> torch.Tensor:
    """The weighted graph Laplacian of the 4-neighbour grid times (B, C, h, w) x."""
    out = torch.zeros_like(x)
    flow = horizontal * (x[..., :, 1:] - x[..., :, :-1])
    out[..., :, :-1] -= flow
    out[..., :, 1:] += flow
    flow = vertical * (x[..., 1:, :] - x[..., :-1, :])
    out[..., :-1, :] -= flow
    out[..., 1:, :] += flow
    return out


def solve_edge_aware(
    diagonal: torch.Tensor,
    rhs: torch.Tensor,
    l: torch.Tensor,
    sigma: float,
    smoothness: float = 1.0,
    tolerance: float = 0.0,
    iterations: int = 150,
) -> torch.Tensor:
    """Solve the module docstring's system.

    Args:
        diagonal: (B, 1 or C, h, w) non-negative hold of each cell (positive somewhere in each connected area).
        rhs: (B, C, h, w) right-hand side.
        l: (B, 1, h, w) L in [0, 100] on the same grid.
        sigma: lightness difference (L units) at which neighbours stop sharing (weight e^-1/2).
        smoothness: weight of the Laplacian against the diagonal.
        tolerance: relative residual at which to stop early (0: run all `iterations`).
        iterations: most conjugate-gradient steps.

    Returns:
        (B, C, h, w) x, float32 or rhs's floating dtype.
    """
    horizontal, vertical = (smoothness * weight for weight in edge_weights(l.to(rhs.dtype), sigma))
    diagonal = diagonal.expand_as(rhs)
    degree = diagonal + torch.zeros_like(rhs)
    degree[..., :, :-1] += horizontal
    degree[..., :, 1:] += horizontal
    degree[..., :-1, :] += vertical
    degree[..., 1:, :] += vertical
    solution, _ = conjugate_gradients(
        lambda x: diagonal * x + _laplacian(x, horizontal, vertical),
        lambda r: r / degree,
        rhs,
        tolerance,
        iterations,
    )
    return solution
