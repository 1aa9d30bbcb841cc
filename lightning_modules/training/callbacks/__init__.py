"""Callbacks: the best and last epoch checkpoints, the validation picture, the skipped-file accounting, the shared run id and step checkpoints
(every run), model registration and a moving average of the weights (opt-in)."""

from pseudocolor.lightning_modules.training.callbacks.best_and_last_checkpoint import BestAndLastCheckpoint
from pseudocolor.lightning_modules.training.callbacks.image_grid import ImageGridLogger
from pseudocolor.lightning_modules.training.callbacks.register_model import RegisterModelCallback
from pseudocolor.lightning_modules.training.callbacks.run_id import ShareMLflowRunId
from pseudocolor.lightning_modules.training.callbacks.skipped_images import SkippedImagesMonitor
from pseudocolor.lightning_modules.training.callbacks.step_checkpoint import StepCheckpoint
from pseudocolor.lightning_modules.training.callbacks.weight_average import WeightAverage

__all__ = [
    "BestAndLastCheckpoint", "ImageGridLogger", "RegisterModelCallback", "ShareMLflowRunId", "SkippedImagesMonitor", "StepCheckpoint",
    "WeightAverage",
]
