"""Preconditioned conjugate gradients for many independent (H, W) grid systems at once (fusion, hint spreading)."""

from __future__ import annotations

from collections.abc import Callable

import torch

Operator = Callable[[torch.Tensor], torch.Tensor]


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-system inner product of (..., H, W) tensors -> (..., 1, 1)."""
    return (a * b).sum(dim=(-2, -1), keepdim=True)


def conjugate_gradients(
    apply: Operator,
    precondition: Operator,
    rhs: torch.Tensor,
    tol: float,
    max_iter: int,
    x0: torch.Tensor | None = None,
) -> tuple[torch.Tensor, float]:
    """Solve apply(x) = rhs for every (H, W) system of (..., H, W) `rhs` at once.

    `apply` must be symmetric positive (semi-)definite and `precondition` an SPD approximation of its inverse;
    both act on each system alone. Starts from `x0` (rhs's shape; None: zero). Stops after `max_iter` steps or
    once the largest residual norm is at most `tol` times the largest right-hand-side norm (a start that is already
    there takes no step). Returns (x, that relative residual).
    """
    tiny = torch.finfo(rhs.dtype).tiny
    rhs_norm = torch.linalg.vector_norm(rhs, dim=(-2, -1)).max().clamp_min(tiny)
    x = torch.zeros_like(rhs) if x0 is None else x0
    r = rhs if x0 is None else rhs - apply(x0)
    residual = (torch.linalg.vector_norm(r, dim=(-2, -1)).max() / rhs_norm).item()
    if residual <= tol:
        return x, residual
    z = precondition(r)
    p = z
    rz = _dot(r, z)
    for _ in range(max_iter):
        q = apply(p)
        pq = _dot(p, q)
        alpha = torch.where(pq > 0, rz / pq.clamp_min(tiny), torch.zeros_like(pq))
        x = torch.addcmul(x, alpha, p)
        r = torch.addcmul(r, alpha, q, value=-1)
        residual = (torch.linalg.vector_norm(r, dim=(-2, -1)).max() / rhs_norm).item()
        if residual <= tol:
            break
        z = precondition(r)
        rz_next = _dot(r, z)
        beta = torch.where(rz > 0, rz_next / rz.clamp_min(tiny), torch.zeros_like(rz))
        p = torch.addcmul(z, beta, p)
        rz = rz_next
    return x, residual
