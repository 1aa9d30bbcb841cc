"""Every metric `pseudocolor evaluate` reports, on the bundled Kodak photos under its protocol (256 x 256, 8-bit),
equals what the metrics computed before they shared conversions (one Lab and one saturation per image, SSIM's window
applied as two 1-D passes): the former implementations are written out here as the reference."""

from __future__ import annotations

import kornia
import pytest
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from pseudocolor.datamodules.color_space import grey_lab, lab_to_rgb, rgb_to_lab, to_uint8
from pseudocolor.datamodules.decoding import decode_image, list_images
from pseudocolor.datamodules.sample_photos import SAMPLES_DIR
from pseudocolor.datamodules.transforms import squash_transform
from pseudocolor.lightning_modules import metrics
from pseudocolor.lightning_modules.metrics.color_difference import AUC_MAX_THRESHOLD, delta_e_ciede2000

SIZE = 256
TOLERANCE = 1e-5  # |new - reference| <= TOLERANCE * max(1, |reference|)
# torchmetrics' float32 SSIM convolves the raw squares (up to 65025, L up to 10^4) in float32: on these photos it is
# up to 6.8e-5 from its own float64 result and from skimage's (on imagenette photos up to 3.3e-4), both of which the
# new SSIM matches to 3e-6.
TORCHMETRICS_FLOAT32_SSIM_ERROR = 1e-4


# ---------------------------------------------------------------------------------------- the former implementations
def reference_ssim(preds: torch.Tensor, target: torch.Tensor, data_range: float) -> torch.Tensor:
    _, full = structural_similarity_index_measure(
        preds, target, sigma=1.5, data_range=data_range, reduction="none", return_full_image=True
    )
    return full[..., 5:-5, 5:-5].mean(dim=(1, 2, 3))


def reference_lab(image: torch.Tensor) -> torch.Tensor:
    return rgb_to_lab(image / 255.0)


def reference_saturation(image: torch.Tensor) -> torch.Tensor:
    return kornia.color.rgb_to_hsv(image / 255.0)[:, 1] * 255.0


def reference_entropy(image: torch.Tensor) -> torch.Tensor:
    levels = image.round().clamp(0, 255).to(torch.int64).flatten(1)
    offsets = torch.arange(image.shape[0]).unsqueeze(1) * 256
    counts = torch.bincount((levels + offsets).flatten(), minlength=image.shape[0] * 256)
    probabilities = counts.reshape(image.shape[0], 256).double() / levels.shape[1]
    return torch.where(probabilities > 0, -probabilities * torch.log2(probabilities), 0.0).sum(dim=1).float()


def reference_colorfulness(image: torch.Tensor) -> torch.Tensor:
    red, green, blue = image.unbind(dim=1)
    rg, yb = (red - green).flatten(1), (0.5 * (red + green) - blue).flatten(1)
    spread = (rg.var(dim=1, correction=0) + yb.var(dim=1, correction=0)).sqrt()
    return spread + 0.3 * (rg.mean(dim=1).pow(2) + yb.mean(dim=1).pow(2)).sqrt()


def reference_ab_auc(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    error = torch.linalg.vector_norm(reference_lab(preds)[:, 1:] - reference_lab(target)[:, 1:], dim=1)
    steps = error.flatten(1).ceil().clamp(max=AUC_MAX_THRESHOLD + 1).to(torch.int64)
    counts = torch.zeros(steps.shape[0], AUC_MAX_THRESHOLD + 2, dtype=torch.float64)
    counts.scatter_add_(1, steps, torch.ones_like(steps, dtype=torch.float64))
    cumulative = counts.cumsum(dim=1)[:, : AUC_MAX_THRESHOLD + 1] / steps.shape[1]
    area = cumulative.sum(dim=1) - 0.5 * (cumulative[:, 0] + cumulative[:, -1])
    return (area / AUC_MAX_THRESHOLD).float()


def reference_values(preds: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every evaluate column as the metrics computed it before: (B, 3, H, W) uint8 -> {name: (B,)}."""
    preds, target = preds.float(), target.float()
    mse = (preds - target).pow(2).mean(dim=(1, 2, 3))
    return {
        "psnr": 10 * torch.log10(255.0**2 / mse.clamp_min(1e-10)),
        "mse": mse,
        "ssim": reference_ssim(preds, target, 255.0),
        "ssim_l": reference_ssim(reference_lab(preds)[:, :1], reference_lab(target)[:, :1], 100.0),
        "ime": (reference_saturation(preds) - reference_saturation(target)).pow(2).mean(dim=(1, 2)),
        "entropy_output": reference_entropy(preds),
        "entropy_ground_truth": reference_entropy(target),
        "colorfulness": reference_colorfulness(preds),
        "colorfulness_ground_truth": reference_colorfulness(target),
        "colorfulness_difference": reference_colorfulness(preds) - reference_colorfulness(target),
        "ciede2000": delta_e_ciede2000(reference_lab(preds), reference_lab(target)).mean(dim=(1, 2)),
        "ab_auc": reference_ab_auc(preds, target),
    }


# ---------------------------------------------------------------------------------------- the photos
@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    """The bundled photos resized as evaluate does: (24, 3, 256, 256) uint8."""
    resize = squash_transform(SIZE)
    return torch.stack([resize(decode_image(path)) for path in list_images(SAMPLES_DIR)])


@pytest.fixture(scope="module", params=["gray", "noisy", "channels_rolled"])
def pair(request, photos) -> tuple[torch.Tensor, torch.Tensor]:
    """(preds, target) uint8: the gray baseline's output, the photo with noise, and with R, G, B rolled."""
    if request.param == "gray":
        rgb = photos.float() / 255.0
        return to_uint8(lab_to_rgb(grey_lab(rgb_to_lab(rgb)[:, :1]))), photos
    if request.param == "noisy":
        noise = torch.randint(-40, 41, photos.shape, generator=torch.Generator().manual_seed(0))
        return (photos.int() + noise).clamp(0, 255).to(torch.uint8), photos
    return photos.roll(1, dims=1), photos


def assert_within(name: str, actual: torch.Tensor, expected: torch.Tensor, tolerance: float) -> None:
    difference = (actual.double() - expected.double()).abs()
    allowed = tolerance * expected.double().abs().clamp_min(1)
    worst = int((difference / allowed).argmax())
    assert (difference <= allowed).all(), f"{name}: photo {worst} differs by {difference[worst]:.3g}"


def test_every_evaluate_metric_equals_its_former_implementation(pair):
    preds, target = pair
    expected = reference_values(preds, target)
    actual = metrics.per_image_values(metrics.ImagePair(preds, target))
    assert list(actual) == list(metrics.PER_IMAGE) == list(expected)
    for name, values in actual.items():
        tolerance = TORCHMETRICS_FLOAT32_SSIM_ERROR if name in ("ssim", "ssim_l") else TOLERANCE
        assert_within(name, values, expected[name], tolerance)


def test_ssim_equals_skimage(pair):
    """SSIM on RGB and on kornia's L against skimage's float64 SSIM (same window, same border)."""
    skimage_metrics = pytest.importorskip("skimage.metrics", reason="scikit-image (the test extra) is not installed")
    preds, target = pair
    options = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
    lightness = [reference_lab(image.float())[:, 0].double().numpy() for image in (preds, target)]
    rgb = [image.permute(0, 2, 3, 1).numpy() for image in (preds, target)]
    expected_rgb = [
        skimage_metrics.structural_similarity(t, p, data_range=255, channel_axis=2, **options) for p, t in zip(*rgb)
    ]
    expected_l = [skimage_metrics.structural_similarity(t, p, data_range=100, **options) for p, t in zip(*lightness)]
    values = metrics.per_image_values(metrics.ImagePair(preds, target), ["ssim", "ssim_l"])
    assert_within("ssim", values["ssim"], torch.tensor(expected_rgb), TOLERANCE)
    assert_within("ssim_l", values["ssim_l"], torch.tensor(expected_l), TOLERANCE)


def test_ssim_equals_torchmetrics_in_float64(pair):
    """The SSIM definition, free of float32 rounding, on two photos (torchmetrics' float64 2-D convolution is slow)."""
    preds, target = (image[:2].double() for image in pair)
    values = metrics.per_image_values(metrics.ImagePair(preds, target), ["ssim", "ssim_l"])
    assert_within("ssim", values["ssim"], reference_ssim(preds, target, 255.0), 1e-9)
    lightness = [reference_lab(image)[:, :1] for image in (preds, target)]
    assert_within("ssim_l", values["ssim_l"], reference_ssim(*lightness, 100.0), 1e-9)


def test_saturation_is_kornias_hsv_saturation(photos):
    torch.testing.assert_close(metrics.saturation(photos), reference_saturation(photos.float()), rtol=0, atol=0)
