"""Tiny models and photos for the deployment tests (colorize, model specs, register, serve, export)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from lightning.pytorch import Trainer
from PIL import Image

from pseudocolor.datamodules.color_space import rgb_to_lab
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.networks.residual_caffenet import ResidualCaffeNet
from pseudocolor.lightning_modules.training.colorization_module import ColorizationModule
from tests.conftest import colourful_array

TINY_SIZE = 64  # network resolution of the test models: cheap on 2 CPU cores


def tiny_colorizer(seed: int = 0) -> Colorizer:
    """A randomly initialised quarter-width ResidualCaffeNet that sees 64x64 inputs."""
    torch.manual_seed(seed)
    return Colorizer(ResidualCaffeNet(width_multiplier=0.25), size=TINY_SIZE)


def write_weights(path: Path, seed: int = 0) -> Path:
    """An exported fp16 weights file of a tiny colorizer."""
    return tiny_colorizer(seed).save_weights(path)


def write_checkpoint(path: Path, seed: int = 0) -> Path:
    """A real Lightning checkpoint of a ColorizationModule holding a tiny network."""
    torch.manual_seed(seed)
    module = ColorizationModule(network=ResidualCaffeNet(width_multiplier=0.25))
    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)
    return path


def lightness(rgb: torch.Tensor | np.ndarray) -> torch.Tensor:
    """(3, H, W) tensor or (H, W, 3) array of uint8 RGB -> (H, W) L in [0, 100]."""
    rgb = torch.as_tensor(np.array(rgb)).permute(2, 0, 1) if isinstance(rgb, np.ndarray) else rgb
    return rgb_to_lab(rgb[None].float() / 255)[0, 0]


def assert_same_lightness(output: torch.Tensor | np.ndarray, reference: torch.Tensor | np.ndarray) -> None:
    """L of two uint8 RGB images agrees within 8-bit rounding (measured: max |dL| about 0.2)."""
    difference = (lightness(output) - lightness(reference)).abs()
    assert difference.max() < 1.0, f"max |dL| = {difference.max():.3f}"
    assert difference.mean() < 0.3, f"mean |dL| = {difference.mean():.3f}"


def write_all_modes(folder: Path, height: int = 48, width: int = 64) -> dict[str, Path]:
    """One file per image mode colorize must take: grey, RGB, RGBA, palette, CMYK JPEG, 16-bit PNG,
    and a JPEG whose EXIF orientation (6) asks for a 90-degree rotation."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = colourful_array(height, width, seed=1)
    grey = rgb.mean(axis=2).astype(np.uint8)
    alpha = np.linspace(0, 255, width, dtype=np.uint8)[None].repeat(height, axis=0)
    exif = Image.Exif()
    exif[0x0112] = 6
    images = {
        "grey.png": (Image.fromarray(grey, mode="L"), {}),
        "rgb.jpg": (Image.fromarray(rgb), {"quality": 95}),
        "rgba.png": (Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA"), {}),
        "palette.png": (Image.fromarray(rgb).convert("P"), {}),
        "cmyk.jpg": (Image.fromarray(rgb).convert("CMYK"), {"quality": 95}),
        "sixteen.png": (Image.fromarray(grey.astype(np.uint16) * 257), {}),
        "rotated.jpg": (Image.fromarray(rgb), {"exif": exif, "quality": 95}),
    }
    paths = {}
    for name, (image, save_args) in images.items():
        image.save(folder / name, **save_args)
        paths[name] = folder / name
    return paths

