"""Full-reference fidelity on RGB photos on the 0-255 scale: MSE, PSNR, SSIM (RGB and L) and the Image
Matching Error. Each function maps (preds, target) (B, 3, H, W) -> (B,) per-image values."""

from __future__ import annotations

import kornia
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from pseudocolor.datamodules.color_space import rgb_to_lab
from pseudocolor.lightning_modules.metrics.base import PerImageMean, check_images

MAX_VALUE = 255.0
SSIM_SIGMA = 1.5
SSIM_BORDER = 5  # half the 11x11 Gaussian window
MIN_MSE = 1e-10  # identical images would give infinite PSNR; this caps it at about 148 dB


def mse(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image over all pixels and channels, 0-255 scale -> (B,)."""
    preds, target = check_images(preds, target)
    return (preds - target).pow(2).mean(dim=(1, 2, 3))


def psnr(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image, 10 log10(255^2 / MSE) with MSE on the 0-255 scale -> (B,)."""
    return 10 * torch.log10(MAX_VALUE**2 / mse(preds, target).clamp_min(MIN_MSE))


def _ssim(preds: torch.Tensor, target: torch.Tensor, data_range: float) -> torch.Tensor:
    """(B, C, H, W) -> (B,) mean of the SSIM map over the pixels whose 11x11 window lies inside the
    image (as Wang et al.'s reference code and skimage do; torchmetrics also averages the padded border)."""
    if min(preds.shape[-2:]) <= 2 * SSIM_BORDER:
        side = 2 * SSIM_BORDER
        raise ValueError(f"SSIM needs images larger than {side}x{side}, got {tuple(preds.shape[-2:])}")
    _, full = structural_similarity_index_measure(
        preds, target, sigma=SSIM_SIGMA, data_range=data_range, reduction="none", return_full_image=True
    )
    return full[..., SSIM_BORDER:-SSIM_BORDER, SSIM_BORDER:-SSIM_BORDER].mean(dim=(1, 2, 3))


def ssim_rgb(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM per image on RGB (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, data range 255),
    averaged over the three channels -> (B,)."""
    preds, target = check_images(preds, target)
    return _ssim(preds, target, MAX_VALUE)


def ssim_l(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM per image on Lab lightness only (L in [0, 100], data range 100) -> (B,).

    Measures structure, not colour: a colourless output that keeps L scores about 1 here.
    """
    preds, target = check_images(preds, target)
    l_preds = rgb_to_lab(preds / MAX_VALUE)[:, :1]
    l_target = rgb_to_lab(target / MAX_VALUE)[:, :1]
    return _ssim(l_preds, l_target, 100.0)


def saturation(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB on the 0-255 scale -> (B, H, W) HSV saturation on the 0-255 scale."""
    return kornia.color.rgb_to_hsv(image / MAX_VALUE)[:, 1] * MAX_VALUE


def image_matching_error(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Image Matching Error per image -> (B,).

    The paper defines IME only as "uses saturation where MSE uses standard subtraction"; we read it as
    the mean squared difference of the HSV saturation channels, S = (max - min) / max on the 0-255
    scale (0 for black), of result and ground truth.
    """
    preds, target = check_images(preds, target)
    return (saturation(preds) - saturation(target)).pow(2).mean(dim=(1, 2))


class MeanSquaredError(PerImageMean):
    """Mean over images of the per-image MSE on the 0-255 scale."""

    higher_is_better = False
    per_image = staticmethod(mse)


class PeakSignalNoiseRatio(PerImageMean):
    """Mean over images of the per-image PSNR (dB, 0-255 scale): the literature's figure, not the
    PSNR of all pixels pooled."""

    higher_is_better = True
    per_image = staticmethod(psnr)


class SSIM(PerImageMean):
    """Mean over images of SSIM on RGB."""

    higher_is_better = True
    per_image = staticmethod(ssim_rgb)


class LightnessSSIM(PerImageMean):
    """Mean over images of SSIM on Lab L (about 1 for any output that keeps L)."""

    higher_is_better = True
    per_image = staticmethod(ssim_l)


class ImageMatchingError(PerImageMean):
    """Mean over images of the Image Matching Error (see `image_matching_error`)."""

    higher_is_better = False
    per_image = staticmethod(image_matching_error)
