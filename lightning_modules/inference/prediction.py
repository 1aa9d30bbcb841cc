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
    chroma_gain: float = 1.0,
) -> torch.Tensor:
    """(B, 1, H, W) L in [0, 100] -> (B, 2, H/4, W/4) ab in Lab units: the annealed mean at `temperature`, times
    `chroma_gain` (> 1 gives back colour that averaging the distribution took away)."""
    logits = network(normalize_l(l), local_hints, global_hint)
    ab = annealed_mean(logits, network.ab_bins, temperature)
    return ab if chroma_gain == 1.0 else ab * chroma_gain
