"""Every image metric under the name it has in evaluation CSVs, summaries and logged metric names, as a function of an
`ImagePair`, and `per_image_values`, all of them on one batch with each colour conversion done once.

Torch and kornia only (no torchmetrics): `pseudocolor evaluate` reads the metrics from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from pseudocolor.lightning_modules.metrics.base import ImagePair
from pseudocolor.lightning_modules.metrics.color_difference import ab_error_auc_of, ciede2000_of
from pseudocolor.lightning_modules.metrics.fidelity import (
    image_matching_error_of,
    mse_of,
    psnr_of,
    ssim_l_of,
    ssim_rgb_of,
)
from pseudocolor.lightning_modules.metrics.statistics import (
    colorfulness_difference_of,
    colorfulness_of_preds,
    colorfulness_of_target,
    entropy_of_preds,
    entropy_of_target,
)


@dataclass(frozen=True)
class PerImageMetric:
    """`of_pair`: ImagePair of B images -> (B,) values; `higher_is_better`: None for statistics without a better
    direction."""

    of_pair: Callable[[ImagePair], torch.Tensor]
    higher_is_better: bool | None = None


PER_IMAGE: dict[str, PerImageMetric] = {
    "psnr": PerImageMetric(psnr_of, higher_is_better=True),
    "mse": PerImageMetric(mse_of, higher_is_better=False),
    "ssim": PerImageMetric(ssim_rgb_of, higher_is_better=True),
    "ssim_l": PerImageMetric(ssim_l_of, higher_is_better=True),
    "ime": PerImageMetric(image_matching_error_of, higher_is_better=False),
    "entropy_output": PerImageMetric(entropy_of_preds),
    "entropy_ground_truth": PerImageMetric(entropy_of_target),
    "colorfulness": PerImageMetric(colorfulness_of_preds),
    "colorfulness_ground_truth": PerImageMetric(colorfulness_of_target),
    "colorfulness_difference": PerImageMetric(colorfulness_difference_of),
    "ciede2000": PerImageMetric(ciede2000_of, higher_is_better=False),
    "ab_auc": PerImageMetric(ab_error_auc_of, higher_is_better=True),
}


def per_image_values(pair: ImagePair, names: tuple[str, ...] | list[str] = tuple(PER_IMAGE)) -> dict[str, torch.Tensor]:
    """The named PER_IMAGE metrics of `pair`'s B images -> {name: (B,) values}, sharing `pair`'s conversions."""
    unknown = sorted(set(names) - set(PER_IMAGE))
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {sorted(PER_IMAGE)}")
    return {name: PER_IMAGE[name].of_pair(pair) for name in names}
