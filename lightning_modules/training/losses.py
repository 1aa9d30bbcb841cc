"""Colorization losses: class-rebalanced cross-entropy over ab bins, smooth-L1 on ab, 1 - SSIM on RGB."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics.functional.image import structural_similarity_index_measure

from pseudocolor.lightning_modules.ab_encoding import soft_encode_ab


def rebalanced_cross_entropy(
    logits: torch.Tensor, ab: torch.Tensor, bins: torch.Tensor, class_weights: torch.Tensor
) -> torch.Tensor:
    """Mean cross-entropy between (B, Q, h, w) logits and the soft-encoded (B, 2, h, w) ab target,
    each pixel weighted by `class_weights` (Q,) of its most likely bin (Zhang et al. 2016)."""
    if logits.shape[-2:] != ab.shape[-2:]:
        raise ValueError(f"logits {tuple(logits.shape)} and ab {tuple(ab.shape)} differ in size")
    target = soft_encode_ab(ab.float(), bins)
    per_pixel = -(target * F.log_softmax(logits.float(), dim=1)).sum(dim=1)
    return (class_weights[target.argmax(dim=1)] * per_pixel).mean()


def smooth_l1_ab(predicted_ab: torch.Tensor, target_ab: torch.Tensor) -> torch.Tensor:
    """Smooth-L1 between (B, 2, h, w) ab maps given in normalised units (ab / 110)."""
    return F.smooth_l1_loss(predicted_ab.float(), target_ab.float(), beta=0.1)


def ssim_loss(predicted_rgb: torch.Tensor, target_rgb: torch.Tensor) -> torch.Tensor:
    """1 - SSIM between (B, 3, H, W) RGB images in [0, 1]."""
    return 1 - structural_similarity_index_measure(predicted_rgb.float(), target_rgb.float(), data_range=1.0)
