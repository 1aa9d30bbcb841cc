"""Callbacks every run gets: the validation picture and the skipped-file accounting."""

from lightning_modules.callbacks.image_grid import ImageGridLogger
from lightning_modules.callbacks.skipped_images import SkippedImagesMonitor

__all__ = ["ImageGridLogger", "SkippedImagesMonitor"]
