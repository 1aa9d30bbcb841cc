"""Shared fixtures: photos and Mask R-CNN weight files written to disk, and an MLflow store per test."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models.detection import maskrcnn_resnet50_fpn

from pseudocolor.lightning_modules.inference.mlflow_store import unpin_tracking_uri

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def colourful_array(height: int, width: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 smooth colourful picture: random colour blobs over gradients, like a photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    image = np.zeros((height, width, 3))
    for channel in range(3):
        phase, freq = rng.uniform(0, 2 * np.pi, 2), rng.uniform(1, 4, 2)
        image[..., channel] = 0.5 + 0.4 * np.sin(freq[0] * 2 * np.pi * x + phase[0]) * np.cos(freq[1] * 2 * np.pi * y + phase[1])
    return (image * 255).clip(0, 255).astype(np.uint8)


def write_photo(path: Path, height: int = 96, width: int = 128, seed: int = 0, **save_args) -> Path:
    """Write a colourful photo (format from the suffix) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(colourful_array(height, width, seed)).save(path, **save_args)
    return path


def write_grey_photo(path: Path, height: int = 96, width: int = 128, seed: int = 0) -> Path:
    """Write a photo whose three channels are equal."""
    grey = colourful_array(height, width, seed).mean(axis=2).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.stack([grey] * 3, axis=2)).save(path)
    return path


class PickledCode:
    """Unpickling this object creates the file `marker`: what a malicious checkpoint could do."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.fixture(autouse=True)
def unpinned_mlflow():
    """Lightning's MLFlowLogger pins MLflow's process-wide tracking URI; undo that after each test so the
    next test's $MLFLOW_TRACKING_URI is honoured."""
    yield
    while mlflow.active_run():
        mlflow.end_run()
    unpin_tracking_uri()


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch) -> str:
    """A fresh sqlite MLflow store for this test, exported as MLFLOW_TRACKING_URI."""
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def requires_shared_data(folder: str):
    """Skip a test unless ../shared/data/<folder> exists (CI and developers have it; users do not)."""
    return pytest.mark.skipif(not (SHARED_DATA / folder).is_dir(), reason=f"needs {SHARED_DATA / folder}")


def write_maskrcnn_weights(path: Path, favoured: int, score_bias: float) -> Path:
    """A randomly initialised torchvision Mask R-CNN COCO state dict laid out like the released file.

    Its class logits favour class `favoured` by `score_bias` and its masks fill their boxes: with 1
    ("person") and 7 every proposal is a person scoring about 0.9; with 0 (background) and 20 nothing is seen.
    """
    torch.manual_seed(0)
    model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[favoured] = score_bias
        model.roi_heads.mask_predictor.mask_fcn_logits.bias[:] = 20.0
    # The released file was saved from FrozenBatchNorm2d layers, which keep no num_batches_tracked.
    state = {key: value for key, value in model.state_dict().items() if not key.endswith("num_batches_tracked")}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


@pytest.fixture(scope="session")
def maskrcnn_weights(tmp_path_factory) -> dict[str, Path]:
    """Mask R-CNN weight files: "person" sees confident people everywhere, "nothing" sees nothing."""
    folder = tmp_path_factory.mktemp("maskrcnn")
    return {
        "person": write_maskrcnn_weights(folder / "person.pth", favoured=1, score_bias=7.0),
        "nothing": write_maskrcnn_weights(folder / "nothing.pth", favoured=0, score_bias=20.0),
    }
