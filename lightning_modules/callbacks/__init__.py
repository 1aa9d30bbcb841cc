"""Callbacks: the validation picture, the skipped-file accounting and the shared run id (every run),
model registration (opt-in)."""

from lightning_modules.callbacks.image_grid import ImageGridLogger
from lightning_modules.callbacks.register_model import RegisterModelCallback
from lightning_modules.callbacks.run_id import ShareMLflowRunId
from lightning_modules.callbacks.skipped_images import SkippedImagesMonitor

__all__ = ["ImageGridLogger", "RegisterModelCallback", "ShareMLflowRunId", "SkippedImagesMonitor"]
