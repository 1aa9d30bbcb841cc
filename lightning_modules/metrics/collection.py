"""The image metrics as torchmetrics `Metric`s for training and testing: each averages one `per_image.PER_IMAGE`
metric over images (synced across DDP ranks). `METRICS` names them as `PER_IMAGE` does."""

from __future__ import annotations

import torch
from torchmetrics import Metric, MetricCollection

from pseudocolor.lightning_modules.metrics.base import ImagePair
from pseudocolor.lightning_modules.metrics.per_image import PER_IMAGE


class PerImageMean(Metric):
    """Mean over images of the PER_IMAGE metric that subclasses name in `metric`; `per_image` is its functional
    twin: (preds, target) (B, 3, H, W) RGB on the 0-255 scale -> (B,) values.

    States are a float64 sum and a count, summed across DDP ranks, so the result does not depend on
    how the images are split between processes.
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better: bool | None = None
    metric: str

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.higher_is_better = PER_IMAGE[cls.metric].higher_is_better

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")

    @classmethod
    def per_image(cls, preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return PER_IMAGE[cls.metric].of_pair(ImagePair(preds, target))

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        values = self.per_image(preds, target)
        self.total += values.detach().sum(dtype=torch.float64)
        self.count += values.numel()

    def compute(self) -> torch.Tensor:
        """The mean of the per-image values seen (NaN before any update)."""
        return (self.total / self.count).float()


class PeakSignalNoiseRatio(PerImageMean):
    """Mean over images of the per-image PSNR (dB, 0-255 scale): the literature's figure, not the
    PSNR of all pixels pooled."""

    metric = "psnr"


class MeanSquaredError(PerImageMean):
    """Mean over images of the per-image MSE on the 0-255 scale."""

    metric = "mse"


class SSIM(PerImageMean):
    """Mean over images of SSIM on RGB."""

    metric = "ssim"


class LightnessSSIM(PerImageMean):
    """Mean over images of SSIM on Lab L (about 1 for any output that keeps L)."""

    metric = "ssim_l"


class ImageMatchingError(PerImageMean):
    """Mean over images of the Image Matching Error (see `fidelity.image_matching_error_of`)."""

    metric = "ime"


class Entropy(PerImageMean):
    """Mean entropy (bits) of the results (`preds`)."""

    metric = "entropy_output"


class GroundTruthEntropy(PerImageMean):
    """Mean entropy (bits) of the ground-truth photos (`target`)."""

    metric = "entropy_ground_truth"


class Colorfulness(PerImageMean):
    """Mean Hasler-Suesstrunk colourfulness of the results (`preds`)."""

    metric = "colorfulness"


class GroundTruthColorfulness(PerImageMean):
    """Mean Hasler-Suesstrunk colourfulness of the ground-truth photos (`target`)."""

    metric = "colorfulness_ground_truth"


class ColorfulnessDifference(PerImageMean):
    """Mean of colourfulness(result) - colourfulness(ground truth); 0 is best."""

    metric = "colorfulness_difference"


class CIEDE2000(PerImageMean):
    """Mean over images of the mean CIEDE2000 colour difference."""

    metric = "ciede2000"


class AbErrorAUC(PerImageMean):
    """Mean over images of the AuC of the cumulative ab-error curve (thresholds 0..150)."""

    metric = "ab_auc"


METRICS: dict[str, type[PerImageMean]] = {
    metric.metric: metric
    for metric in (
        PeakSignalNoiseRatio,
        MeanSquaredError,
        SSIM,
        LightnessSSIM,
        ImageMatchingError,
        Entropy,
        GroundTruthEntropy,
        Colorfulness,
        GroundTruthColorfulness,
        ColorfulnessDifference,
        CIEDE2000,
        AbErrorAUC,
    )
}
VALIDATION_METRICS = ("psnr", "ssim", "ssim_l", "mse", "ime", "colorfulness", "ciede2000", "ab_auc")


def image_metrics(names: tuple[str, ...] | list[str] = tuple(METRICS)) -> MetricCollection:
    """A MetricCollection of the named METRICS; update it with (preds, target) RGB on the 0-255 scale."""
    unknown = sorted(set(names) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {sorted(METRICS)}")
    # compute_groups would merge metrics whose (sum, count) states happen to be equal after one batch.
    return MetricCollection({name: METRICS[name]() for name in names}, compute_groups=False)
