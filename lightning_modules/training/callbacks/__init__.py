"""Callbacks. Every run: the best and last epoch checkpoints, the validation picture, the skipped-file accounting,
the shared run id, step checkpoints and the run's record (dataset inputs, tags, system metrics). Opt-in: model
registration and a moving average of the weights."""

from pseudocolor.lightning_modules.training.callbacks.best_and_last_checkpoint import BestAndLastCheckpoint
from pseudocolor.lightning_modules.training.callbacks.dataset_inputs import DatasetInputs
from pseudocolor.lightning_modules.training.callbacks.image_grid import ImageGridLogger
from pseudocolor.lightning_modules.training.callbacks.register_model import RegisterModelCallback
from pseudocolor.lightning_modules.training.callbacks.run_id import ShareMLflowRunId
from pseudocolor.lightning_modules.training.callbacks.run_tags import RunTags
from pseudocolor.lightning_modules.training.callbacks.skipped_images import SkippedImagesMonitor
from pseudocolor.lightning_modules.training.callbacks.step_checkpoint import StepCheckpoint
from pseudocolor.lightning_modules.training.callbacks.system_metrics import SystemMetrics
from pseudocolor.lightning_modules.training.callbacks.weight_average import WeightAverage

__all__ = [
    "BestAndLastCheckpoint", "DatasetInputs", "ImageGridLogger", "RegisterModelCallback", "RunTags", "ShareMLflowRunId",
    "SkippedImagesMonitor", "StepCheckpoint", "SystemMetrics", "WeightAverage",
]
