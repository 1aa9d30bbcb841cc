"""Preconditioned conjugate gradients for many independent (H, W) grid systems at once (fusion, hint spreading)."""

from __future__ import annotations

from collections.abc import Callable

import torch

Operator = Callable[[torch.Tensor], torch.Tensor]


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-system inner product of (..., H, W) tensors -> (..., 1, 1)."""
    return (a * b).sum(dim=(-2, -1), keepdim=True)


def conjugate_gradients(
    apply: Operator, precondition: Operator, rhs: torch.Tensor, tol: float, max_iter: int
) -> tuple[torch.Tensor, float]:
    """Solve apply(x) = rhs for every (H, W) system of (..., H, W) `rhs` at once.

    `apply` must be symmetric positive (semi-)definite and `precondition` an SPD approximation of its inverse;
    both act on each system alone. Stops after `max_iter` steps or once the largest residual norm is at most
    `tol` times the largest right-hand-side norm. Returns (x, that relative residual).
    """
    tiny = torch.finfo(rhs.dtype).tiny
    rhs_norm = torch.linalg.vector_norm(rhs, dim=(-2, -1)).max().clamp_min(tiny)
    x = torch.zeros_like(rhs)
    r = rhs
    z = precondition(r)
    p = z
    rz = _dot(r, z)
    residual = (torch.linalg.vector_norm(r, dim=(-2, -1)).max() / rhs_norm).item()
    for _ in range(max_iter):
        if residual <= tol:
            break
        q = apply(p)
        pq = _dot(p, q)
        alpha = torch.where(pq > 0, rz / pq.clamp_min(tiny), torch.zeros_like(pq))
        x = x + alpha * p
        r = r - alpha * q
        z = precondition(r)
        rz_next = _dot(r, z)
        beta = torch.where(rz > 0, rz_next / rz.clamp_min(tiny), torch.zeros_like(rz))
        p = z + beta * p
        rz = rz_next
        residual = (torch.linalg.vector_norm(r, dim=(-2, -1)).max() / rhs_norm).item()
    return x, residual
