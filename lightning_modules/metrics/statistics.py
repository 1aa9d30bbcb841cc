"""No-reference statistics of one RGB photo on the 0-255 scale: entropy and colourfulness, each of the
result and of the ground truth. `entropy` and `colorfulness` map (B, 3, H, W) -> (B,) per-image values; the `*_of`
functions read them from an `ImagePair`, computed once per image."""

from __future__ import annotations

import torch

from pseudocolor.lightning_modules.metrics.base import ImagePair, check_image

LEVELS = 256
COLORFULNESS_MEAN_WEIGHT = 0.3


def entropy(image: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in bits of the 256-bin histogram of all 8-bit values, channels pooled -> (B,).

    Float input is rounded to the nearest level first. Range [0, 8].
    """
    image = check_image(image)
    levels = image.round().clamp(0, LEVELS - 1).to(torch.int64).flatten(1)
    offsets = torch.arange(image.shape[0], device=image.device).unsqueeze(1) * LEVELS
    counts = torch.bincount((levels + offsets).flatten(), minlength=image.shape[0] * LEVELS)
    probabilities = counts.reshape(image.shape[0], LEVELS).double() / levels.shape[1]
    terms = torch.where(probabilities > 0, -probabilities * torch.log2(probabilities), 0.0)
    return terms.sum(dim=1).to(image.dtype)


def colorfulness(image: torch.Tensor) -> torch.Tensor:
    """Colourfulness M of Hasler and Suesstrunk (2003) -> (B,), 0 for a grey image.

    With rg = R - G and yb = (R + G) / 2 - B on the 0-255 scale:
    M = sqrt(std(rg)^2 + std(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2), population std over pixels.
    """
    image = check_image(image)
    red, green, blue = image.unbind(dim=1)
    rg = (red - green).flatten(1)
    yb = (0.5 * (red + green) - blue).flatten(1)
    spread = (rg.var(dim=1, correction=0) + yb.var(dim=1, correction=0)).sqrt()
    offset = (rg.mean(dim=1).pow(2) + yb.mean(dim=1).pow(2)).sqrt()
    return spread + COLORFULNESS_MEAN_WEIGHT * offset


def entropy_of_preds(pair: ImagePair) -> torch.Tensor:
    """Entropy (bits) of each result -> (B,)."""
    return pair.preds_as(entropy)


def entropy_of_target(pair: ImagePair) -> torch.Tensor:
    """Entropy (bits) of each ground-truth photo -> (B,)."""
    return pair.target_as(entropy)


def colorfulness_of_preds(pair: ImagePair) -> torch.Tensor:
    """Hasler-Suesstrunk colourfulness of each result -> (B,)."""
    return pair.preds_as(colorfulness)


def colorfulness_of_target(pair: ImagePair) -> torch.Tensor:
    """Hasler-Suesstrunk colourfulness of each ground-truth photo -> (B,)."""
    return pair.target_as(colorfulness)


def colorfulness_difference_of(pair: ImagePair) -> torch.Tensor:
    """Colourfulness of the result minus that of the ground truth -> (B,); negative = too dull."""
    return pair.preds_as(colorfulness) - pair.target_as(colorfulness)
