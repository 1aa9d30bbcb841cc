"""Image metrics on RGB photos on the 0-255 scale: each a functional twin (B, ...) -> (B,) per-image values and a
torchmetrics `Metric` averaging them over images (synced across DDP ranks).

`PER_IMAGE` names them as they appear in evaluation CSVs, summaries and logged metric names, and `per_image_values`
computes them together on one `ImagePair`, each colour conversion once. The `Metric`s (`METRICS`, `image_metrics`,
`collection`) are imported on first use: torchmetrics takes seconds to import, which `pseudocolor evaluate` does not
need.
"""

from __future__ import annotations

from pseudocolor.lightning_modules.metrics.base import ImagePair, lab
from pseudocolor.lightning_modules.metrics.color_difference import ab_error_auc, ciede2000, delta_e_ciede2000
from pseudocolor.lightning_modules.metrics.fidelity import (
    image_matching_error,
    mse,
    psnr,
    saturation,
    ssim_l,
    ssim_rgb,
    structural_similarity,
)
from pseudocolor.lightning_modules.metrics.per_image import PER_IMAGE, PerImageMetric, per_image_values
from pseudocolor.lightning_modules.metrics.statistics import colorfulness, entropy

# names of `collection`, which imports torchmetrics: resolved by __getattr__ on first use
COLLECTION_NAMES = (
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
    "image_metrics",
)


def __getattr__(name: str) -> object:
    if name in COLLECTION_NAMES:
        from pseudocolor.lightning_modules.metrics import collection

        return getattr(collection, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [  # COLLECTION_NAMES and the names imported above
    "CIEDE2000",
    "METRICS",
    "PER_IMAGE",
    "SSIM",
    "VALIDATION_METRICS",
    "AbErrorAUC",
    "Colorfulness",
    "ColorfulnessDifference",
    "Entropy",
    "GroundTruthColorfulness",
    "GroundTruthEntropy",
    "ImageMatchingError",
    "ImagePair",
    "LightnessSSIM",
    "MeanSquaredError",
    "PeakSignalNoiseRatio",
    "PerImageMean",
    "PerImageMetric",
    "ab_error_auc",
    "ciede2000",
    "colorfulness",
    "delta_e_ciede2000",
    "entropy",
    "image_matching_error",
    "image_metrics",
    "lab",
    "mse",
    "per_image_values",
    "psnr",
    "saturation",
    "ssim_l",
    "ssim_rgb",
    "structural_similarity",
]
