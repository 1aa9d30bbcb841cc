"""Callbacks: the validation picture and the skipped-file accounting (every run), model registration (opt-in)."""

from lightning_modules.callbacks.image_grid import ImageGridLogger
from lightning_modules.callbacks.register_model import RegisterModelCallback
from lightning_modules.callbacks.skipped_images import SkippedImagesMonitor

__all__ = ["ImageGridLogger", "RegisterModelCallback", "SkippedImagesMonitor"]
