"""Callbacks: the validation picture, the skipped-file accounting, the shared run id and step checkpoints
(every run), model registration (opt-in)."""

from lightning_modules.callbacks.image_grid import ImageGridLogger
from lightning_modules.callbacks.register_model import RegisterModelCallback
from lightning_modules.callbacks.run_id import ShareMLflowRunId
from lightning_modules.callbacks.skipped_images import SkippedImagesMonitor
from lightning_modules.callbacks.step_checkpoint import StepCheckpoint

__all__ = ["ImageGridLogger", "RegisterModelCallback", "ShareMLflowRunId", "SkippedImagesMonitor", "StepCheckpoint"]
