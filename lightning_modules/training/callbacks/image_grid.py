"""Logs a picture of the first validation batch to MLflow each epoch: grey input | prediction | truth."""

from __future__ import annotations

import torch
from lightning.pytorch import Callback
from lightning.pytorch.loggers import MLFlowLogger
from torchvision.utils import make_grid

from pseudocolor.datamodules.color_space import to_uint8


def comparison_grid(grey: torch.Tensor, predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Three (B, 3, H, W) RGB batches in [0, 1] -> (rows*H', 3*W', 3) uint8, one row per image."""
    rows = torch.stack([grey, predicted, truth], dim=1).flatten(0, 1)
    grid = make_grid(rows.float().clamp(0, 1), nrow=3, padding=2, pad_value=1.0)
    return to_uint8(grid).permute(1, 2, 0)


class ImageGridLogger(Callback):
    """Logs `val/grid_e<epoch>.png` with up to `max_images` rows from the first validation batch."""

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
        grid = comparison_grid(grey, outputs["rgb_pred"][:count], truth)
        logger.experiment.log_image(
            logger.run_id, grid.cpu().numpy(), artifact_file=f"val/grid_e{trainer.current_epoch:03d}.png"
        )
