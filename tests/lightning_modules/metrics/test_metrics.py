"""Metrics against independent references: skimage where it has them, hand computation otherwise."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.color import deltaE_ciede2000, rgb2hsv, rgb2lab
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from pseudocolor.lightning_modules import metrics

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    """(3, 3, 32, 40) uint8 target and a noisy prediction of it."""
    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 256, (3, 3, 32, 40), generator=generator, dtype=torch.uint8)
    noise = torch.randint(-40, 41, target.shape, generator=generator)
    return (target.int() + noise).clamp(0, 255).to(torch.uint8), target


def hwc(batch: torch.Tensor) -> list[np.ndarray]:
    return list(batch.permute(0, 2, 3, 1).numpy())


def assert_close(actual: torch.Tensor, expected: list[float], atol: float = 1e-5) -> None:
    torch.testing.assert_close(actual, torch.tensor(expected, dtype=actual.dtype), atol=atol, rtol=1e-5)


def image(*pixels: tuple[int, int, int]) -> torch.Tensor:
    """A (1, 3, 1, N) float image from N RGB pixels on the 0-255 scale."""
    return torch.tensor(pixels, dtype=torch.float32).T.reshape(1, 3, 1, len(pixels))


def test_mse_and_psnr_match_skimage(pair):
    preds, target = pair
    expected = [peak_signal_noise_ratio(t, p, data_range=255) for p, t in zip(hwc(preds), hwc(target))]
    torch.testing.assert_close(metrics.psnr(preds, target), torch.tensor(expected, dtype=torch.float32))
    expected_mse = [np.mean((p.astype(float) - t) ** 2) for p, t in zip(hwc(preds), hwc(target))]
    torch.testing.assert_close(metrics.mse(preds, target), torch.tensor(expected_mse, dtype=torch.float32))


def test_psnr_of_identical_images_is_finite(pair):
    assert torch.isfinite(metrics.psnr(pair[1], pair[1])).all()


def test_ssim_rgb_and_l_match_skimage_gaussian(pair):
    preds, target = pair
    options = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
    pairs = list(zip(hwc(preds), hwc(target)))
    rgb = [structural_similarity(t, p, data_range=255, channel_axis=2, **options) for p, t in pairs]
    lightness = [
        structural_similarity(rgb2lab(t)[..., 0], rgb2lab(p)[..., 0], data_range=100, **options)
        for p, t in pairs
    ]
    assert_close(metrics.ssim_rgb(preds, target), rgb, atol=1e-4)
    assert_close(metrics.ssim_l(preds, target), lightness, atol=1e-4)


def test_ime_matches_skimage_saturation(pair):
    preds, target = pair
    saturations = [(rgb2hsv(p)[..., 1] * 255, rgb2hsv(t)[..., 1] * 255) for p, t in zip(hwc(preds), hwc(target))]
    expected = [np.mean((p - t) ** 2) for p, t in saturations]
    assert_close(metrics.image_matching_error(preds, target), expected, atol=1e-2)


def test_ime_by_hand():
    # saturations: red 255 vs white 0; (200, 100, 100) is 100/200 * 255 = 127.5 vs grey 0
    preds = image((255, 0, 0), (200, 100, 100))
    target = image((255, 255, 255), (50, 50, 50))
    expected = (255.0**2 + 127.5**2) / 2
    assert metrics.image_matching_error(preds, target).item() == pytest.approx(expected, rel=1e-5)


def test_ciede2000_matches_skimage(pair):
    preds, target = pair
    expected = [deltaE_ciede2000(rgb2lab(t), rgb2lab(p)).mean() for p, t in zip(hwc(preds), hwc(target))]
    assert_close(metrics.ciede2000(preds, target), expected, atol=1e-3)


def test_delta_e_ciede2000_sharma_pairs():
    # rows 1, 7, 17 and 25 of Sharma, Wu and Dalal (2005), table 1
    lab1 = torch.tensor([[50.0, 2.6772, -79.7751], [50.0, 0.0, 0.0], [50.0, 2.5, 0.0], [60.2574, -34.0099, 36.2677]])
    lab2 = torch.tensor([[50.0, 0.0, -82.7485], [50.0, -1.0, 2.0], [73.0, 25.0, -18.0], [60.4626, -34.1751, 39.4387]])
    result = metrics.delta_e_ciede2000(lab1.double().T[:, :, None], lab2.double().T[:, :, None])[:, 0]
    assert_close(result, [2.0425, 2.3669, 27.1492, 1.2644], atol=1e-4)


def test_ab_error_auc_matches_numpy(pair):
    preds, target = pair
    expected = []
    for p, t in zip(hwc(preds), hwc(target)):
        error = np.linalg.norm(rgb2lab(p)[..., 1:] - rgb2lab(t)[..., 1:], axis=-1)
        curve = [np.mean(error <= threshold) for threshold in range(151)]
        expected.append(np.trapezoid(curve) / 150)
    assert_close(metrics.ab_error_auc(preds, target), expected, atol=1e-4)
    assert metrics.ab_error_auc(target, target).tolist() == pytest.approx([1.0] * 3)


def test_entropy_by_hand():
    two_levels = image((0, 255, 0), (0, 255, 255))  # three 0s and three 255s: 1 bit
    four_levels = image((10, 20, 30), (40, 10, 20), (30, 40, 10), (20, 30, 40))  # 4 levels, 3 each: 2 bits
    assert metrics.entropy(two_levels).item() == pytest.approx(1.0)
    assert metrics.entropy(four_levels).item() == pytest.approx(2.0)
    assert metrics.entropy(image((7, 7, 7), (7, 7, 7))).item() == 0.0
    every_level = torch.arange(256, dtype=torch.uint8).repeat(3).reshape(1, 3, 16, 16)
    assert metrics.entropy(every_level).item() == pytest.approx(8.0)


def test_colorfulness_by_hand():
    # red and black: rg = (255, 0), yb = (127.5, 0); std and |mean| are both (127.5, 63.75)
    expected = 1.3 * math.hypot(127.5, 63.75)
    assert metrics.colorfulness(image((255, 0, 0), (0, 0, 0))).item() == pytest.approx(expected, rel=1e-6)
    assert metrics.colorfulness(image((90, 90, 90), (200, 200, 200))).item() == 0.0


def test_collection_means_per_image_values(pair):
    preds, target = pair
    collection = metrics.image_metrics()
    collection.update(preds[:2], target[:2])
    collection.update(preds[2:], target[2:])
    result = collection.compute()
    assert set(result) == set(metrics.METRICS)
    for name, metric_class in metrics.METRICS.items():
        expected = metric_class.per_image(preds, target).double().mean().float()
        torch.testing.assert_close(result[name], expected, msg=name)


@pytest.mark.parametrize("function", [metrics.psnr, metrics.ciede2000, metrics.ab_error_auc])
def test_shape_errors_name_the_expected_shape(function):
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        function(torch.zeros(3, 8, 8), torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="same shape"):
        function(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))


def test_unknown_metric_name_is_refused():
    with pytest.raises(ValueError, match="unknown metrics"):
        metrics.image_metrics(["psnr", "fid"])


@pytest.mark.slow
def test_metrics_agree_under_two_process_gloo_ddp():
    script = Path(__file__).with_name("ddp_metrics_script.py")
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=environment, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ddp metrics agree" in result.stdout
