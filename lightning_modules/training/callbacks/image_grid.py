"""Logs a picture of the first validation batch to MLflow each epoch: grey input | prediction | truth."""

from __future__ import annotations

import numpy as np
import torch
from lightning.pytorch import Callback
from lightning.pytorch.loggers import MLFlowLogger
from PIL import Image, ImageDraw, ImageFont
from torchvision.utils import make_grid

from pseudocolor.datamodules.color_space import to_uint8

COLUMN_TITLES = ("grey", "prediction", "truth")
GRID_KEY = "val/grid"  # MLflow image key: one image per epoch, shown with a step slider
PADDING = 2  # pixels between cells (make_grid's padding)


def comparison_grid(grey: torch.Tensor, predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Three (B, 3, H, W) RGB batches in [0, 1] -> (rows*H', 3*W', 3) uint8, one row per image."""
    rows = torch.stack([grey, predicted, truth], dim=1).flatten(0, 1)
    grid = make_grid(rows.float().clamp(0, 1), nrow=3, padding=PADDING, pad_value=1.0)
    return to_uint8(grid).permute(1, 2, 0)


def with_column_titles(grid: np.ndarray, cell_width: int, titles: tuple[str, ...] = COLUMN_TITLES) -> np.ndarray:
    """(H, W, 3) uint8 grid of `len(titles)` columns of `cell_width` px (PADDING apart) -> (T + H, W, 3) with a
    white band of height T on top holding each column's title, centred over it in black."""
    if grid.ndim != 3 or grid.shape[2] != 3 or grid.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 grid, got {grid.shape} {grid.dtype}")
    font = ImageFont.load_default(size=max(10, min(24, cell_width // 8)))
    band = max(font.getbbox(title)[3] - font.getbbox(title)[1] for title in titles) + 8
    image = Image.new("RGB", (grid.shape[1], band + grid.shape[0]), "white")
    image.paste(Image.fromarray(grid), (0, band))
    draw = ImageDraw.Draw(image)
    for column, title in enumerate(titles):
        centre = PADDING + column * (cell_width + PADDING) + cell_width / 2
        draw.text((centre, band / 2), title, fill="black", font=font, anchor="mm")
    return np.asarray(image)


class ImageGridLogger(Callback):
    """Logs an image under the key `val/grid` at step = epoch (MLflow's image view with a step slider), with up to
    `max_images` rows from the first validation batch and the column titles drawn on top."""

    def __init__(self, max_images: int = 8) -> None:
        self.max_images = max_images

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx != 0 or trainer.sanity_checking or not trainer.is_global_zero or not outputs:
            return
        logger = trainer.logger
        if not isinstance(logger, MLFlowLogger):
            return
        count = min(self.max_images, batch["rgb"].shape[0])
        truth = batch["rgb"][:count]
        grey = batch["lab"][:count, :1].div(100).expand(-1, 3, -1, -1)
        grid = comparison_grid(grey, outputs["rgb_pred"][:count], truth).cpu().numpy()
        image = with_column_titles(grid, cell_width=truth.shape[-1])
        logger.experiment.log_image(logger.run_id, image, key=GRID_KEY, step=trainer.current_epoch)
