"""Callbacks every run gets: the validation picture, the skipped-file accounting and the shared run id."""

from lightning_modules.callbacks.image_grid import ImageGridLogger
from lightning_modules.callbacks.run_id import ShareMLflowRunId
from lightning_modules.callbacks.skipped_images import SkippedImagesMonitor

__all__ = ["ImageGridLogger", "ShareMLflowRunId", "SkippedImagesMonitor"]
