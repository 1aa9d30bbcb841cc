"""Full-reference fidelity on RGB photos on the 0-255 scale: MSE, PSNR, SSIM (RGB and L) and the Image
Matching Error. Each `*_of` maps an `ImagePair` to (B,) per-image values; the function of the same name without `_of`
takes (preds, target) (B, 3, H, W)."""

from __future__ import annotations

import functools

import torch

from pseudocolor.lightning_modules.metrics.base import MAX_VALUE, ImagePair, check_image, lab

SSIM_SIGMA = 1.5
SSIM_BORDER = 5  # half the 11x11 Gaussian window (sigma 1.5 truncated at 3.5 sigma, as torchmetrics and skimage do)
SSIM_K1, SSIM_K2 = 0.01, 0.03
MIN_MSE = 1e-10  # identical images would give infinite PSNR; this caps it at about 148 dB
SATURATION_EPS = 1e-8  # kornia's rgb_to_hsv: S = (max - min) / (max + eps), 0 for black


def mse_of(pair: ImagePair) -> torch.Tensor:
    """Mean squared error per image over all pixels and channels, 0-255 scale -> (B,)."""
    return (pair.preds - pair.target).pow(2).mean(dim=(1, 2, 3))


def psnr_of(pair: ImagePair) -> torch.Tensor:
    """PSNR in dB per image, 10 log10(255^2 / MSE) with MSE on the 0-255 scale -> (B,)."""
    return 10 * torch.log10(MAX_VALUE**2 / mse_of(pair).clamp_min(MIN_MSE))


@functools.cache
def gaussian_window() -> tuple[float, ...]:
    """SSIM's 1-D window: the Gaussian of sigma SSIM_SIGMA at offsets -5..5, summing to 1 (11 floats, computed in
    float64). The 11x11 window of Wang et al. (torchmetrics, skimage) is its outer product."""
    offsets = torch.arange(-SSIM_BORDER, SSIM_BORDER + 1, dtype=torch.float64)
    window = torch.exp(-((offsets / SSIM_SIGMA) ** 2) / 2)
    return tuple((window / window.sum()).tolist())


def blur_inside(maps: torch.Tensor) -> torch.Tensor:
    """(..., H, W) -> (..., H - 10, W - 10): the mean under SSIM's 11x11 Gaussian window at every position where the
    window lies inside the image, as a pass along W then one along H of 11 shifted multiply-adds each (22 operations
    per pixel instead of the 2-D window's 121)."""
    weights = gaussian_window()
    width, height = maps.shape[-1] - 2 * SSIM_BORDER, maps.shape[-2] - 2 * SSIM_BORDER
    rows = maps[..., :width] * weights[0]
    for shift, weight in enumerate(weights[1:], start=1):
        rows.add_(maps[..., shift : shift + width], alpha=weight)
    blurred = rows[..., :height, :] * weights[0]
    for shift, weight in enumerate(weights[1:], start=1):
        blurred.add_(rows[..., shift : shift + height, :], alpha=weight)
    return blurred


def structural_similarity(preds: torch.Tensor, target: torch.Tensor, data_range: float) -> torch.Tensor:
    """(B, C, H, W) float images with values spanning `data_range` -> (B,) SSIM (Wang et al. 2004: 11x11 Gaussian
    window of sigma 1.5, K1 = 0.01, K2 = 0.03, population variances), the mean of the SSIM map over the pixels
    whose window lies inside the image and over the channels (as Wang et al.'s reference code and skimage do;
    torchmetrics' full map cropped by 5 pixels gives the same).

    Local (co)variances are taken about each channel's mean of `target`, so float32 sums hold values of about
    +-data_range rather than their squares: within about 3e-6 of the float64 result, skimage's (torchmetrics'
    float32 convolution of the raw squares, which `evaluate` used before, is up to 3e-4 off it on 256 px photos). Four maps are blurred, not five: the
    denominator needs only the sum of the two variances (clamped at 0; torchmetrics clamps each, which differs
    only where float rounding makes a variance negative)."""
    if preds.ndim != 4 or preds.shape != target.shape:
        raise ValueError(f"preds {tuple(preds.shape)} and target {tuple(target.shape)} must be the same (B, C, H, W)")
    if min(preds.shape[-2:]) <= 2 * SSIM_BORDER:
        side = 2 * SSIM_BORDER
        raise ValueError(f"SSIM needs images larger than {side}x{side}, got {tuple(preds.shape[-2:])}")
    centre = target.mean(dim=(2, 3), keepdim=True)
    preds, target = preds - centre, target - centre
    mean_preds, mean_target = blur_inside(preds), blur_inside(target)
    variances = blur_inside(preds.square().add_(target.square()))
    variances.sub_(mean_preds.square()).sub_(mean_target.square()).clamp_(min=0)
    covariance = blur_inside(preds.mul_(target)).sub_(mean_preds * mean_target)
    mean_preds, mean_target = mean_preds.add_(centre), mean_target.add_(centre)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    luminance = (2 * mean_preds * mean_target).add_(c1)
    luminance.div_(mean_preds.square_().add_(mean_target.square_()).add_(c1))
    contrast = covariance.mul_(2).add_(c2).div_(variances.add_(c2))
    return luminance.mul_(contrast).mean(dim=(1, 2, 3))


def ssim_rgb_of(pair: ImagePair) -> torch.Tensor:
    """SSIM per image on RGB (data range 255), averaged over the three channels -> (B,)."""
    return structural_similarity(pair.preds, pair.target, MAX_VALUE)


def ssim_l_of(pair: ImagePair) -> torch.Tensor:
    """SSIM per image on Lab lightness only (L in [0, 100], data range 100) -> (B,).

    Measures structure, not colour: a colourless output that keeps L scores about 1 here.
    """
    return structural_similarity(pair.preds_as(lab)[:, :1], pair.target_as(lab)[:, :1], 100.0)


def saturation(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB on the 0-255 scale -> (B, H, W) HSV saturation on the 0-255 scale: kornia's `rgb_to_hsv`
    S channel, (max - min) / (max + 1e-8) of RGB in [0, 1] and 0 for black, without its hue."""
    image = check_image(image) / MAX_VALUE
    largest = image.amax(dim=1)
    spread = largest - image.amin(dim=1)
    return spread.div_(largest + SATURATION_EPS).mul_(MAX_VALUE)  # black: 0 / eps = 0 / 1 (kornia's guard) = 0


def image_matching_error_of(pair: ImagePair) -> torch.Tensor:
    """Image Matching Error per image -> (B,).

    The paper defines IME only as "uses saturation where MSE uses standard subtraction"; we read it as
    the mean squared difference of the HSV saturation channels, S = (max - min) / max on the 0-255
    scale (0 for black), of result and ground truth.
    """
    return (pair.preds_as(saturation) - pair.target_as(saturation)).pow(2).mean(dim=(1, 2))


def mse(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`mse_of` of (B, 3, H, W) RGB batches on the 0-255 scale -> (B,)."""
    return mse_of(ImagePair(preds, target))


def psnr(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`psnr_of` of (B, 3, H, W) RGB batches on the 0-255 scale -> (B,) dB."""
    return psnr_of(ImagePair(preds, target))


def ssim_rgb(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`ssim_rgb_of` of (B, 3, H, W) RGB batches on the 0-255 scale -> (B,)."""
    return ssim_rgb_of(ImagePair(preds, target))


def ssim_l(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`ssim_l_of` of (B, 3, H, W) RGB batches on the 0-255 scale -> (B,)."""
    return ssim_l_of(ImagePair(preds, target))


def image_matching_error(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`image_matching_error_of` of (B, 3, H, W) RGB batches on the 0-255 scale -> (B,)."""
    return image_matching_error_of(ImagePair(preds, target))
