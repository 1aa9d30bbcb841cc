"""Image metrics on RGB photos on the 0-255 scale: each a functional twin (B, ...) -> (B,) per-image
values and a torchmetrics `Metric` averaging them over images (synced across DDP ranks).

`METRICS` names them as they appear in evaluation CSVs, summaries and logged metric names.
"""

from __future__ import annotations

from torchmetrics import MetricCollection

from pseudocolor.lightning_modules.metrics.base import PerImageMean
from pseudocolor.lightning_modules.metrics.color_difference import (
    CIEDE2000,
    AbErrorAUC,
    ab_error_auc,
    ciede2000,
    delta_e_ciede2000,
)
from pseudocolor.lightning_modules.metrics.fidelity import (
    SSIM,
    ImageMatchingError,
    LightnessSSIM,
    MeanSquaredError,
    PeakSignalNoiseRatio,
    image_matching_error,
    mse,
    psnr,
    saturation,
    ssim_l,
    ssim_rgb,
)
from pseudocolor.lightning_modules.metrics.statistics import (
    Colorfulness,
    ColorfulnessDifference,
    Entropy,
    GroundTruthColorfulness,
    GroundTruthEntropy,
    colorfulness,
    entropy,
)

METRICS: dict[str, type[PerImageMean]] = {
    "psnr": PeakSignalNoiseRatio,
    "mse": MeanSquaredError,
    "ssim": SSIM,
    "ssim_l": LightnessSSIM,
    "ime": ImageMatchingError,
    "entropy_output": Entropy,
    "entropy_ground_truth": GroundTruthEntropy,
    "colorfulness": Colorfulness,
    "colorfulness_ground_truth": GroundTruthColorfulness,
    "colorfulness_difference": ColorfulnessDifference,
    "ciede2000": CIEDE2000,
    "ab_auc": AbErrorAUC,
}
VALIDATION_METRICS = ("psnr", "ssim", "ssim_l", "mse", "ime", "colorfulness", "ciede2000", "ab_auc")


def image_metrics(names: tuple[str, ...] | list[str] = tuple(METRICS)) -> MetricCollection:
    """A MetricCollection of the named METRICS; update it with (preds, target) RGB on the 0-255 scale."""
    unknown = sorted(set(names) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {sorted(METRICS)}")
    # compute_groups would merge metrics whose (sum, count) states happen to be equal after one batch.
    return MetricCollection({name: METRICS[name]() for name in names}, compute_groups=False)


__all__ = [
    "METRICS",
    "VALIDATION_METRICS",
    "AbErrorAUC",
    "CIEDE2000",
    "Colorfulness",
    "ColorfulnessDifference",
    "Entropy",
    "GroundTruthColorfulness",
    "GroundTruthEntropy",
    "ImageMatchingError",
    "LightnessSSIM",
    "MeanSquaredError",
    "PeakSignalNoiseRatio",
    "PerImageMean",
    "SSIM",
    "ab_error_auc",
    "ciede2000",
    "colorfulness",
    "delta_e_ciede2000",
    "entropy",
    "image_matching_error",
    "image_metrics",
    "mse",
    "psnr",
    "saturation",
    "ssim_l",
    "ssim_rgb",
]
