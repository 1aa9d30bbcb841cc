"""Turning network outputs into colour: used identically by training, evaluation and deployment."""

from __future__ import annotations

import torch
from torch import nn

from pseudocolor.lightning_modules.ab_encoding import ANNEALED_TEMPERATURE, annealed_mean, normalize_l


def predict_ab(
    network: nn.Module,
    l: torch.Tensor,
    local_hints: torch.Tensor | None = None,
    global_hint: torch.Tensor | None = None,
    temperature: float = ANNEALED_TEMPERATURE,
) -> torch.Tensor:
    """(B, 1, H, W) L in [0, 100] -> (B, 2, H/4, W/4) ab predicted by annealed-mean decoding."""
    logits = network(normalize_l(l), local_hints, global_hint)
    return annealed_mean(logits, network.ab_bins, temperature)
