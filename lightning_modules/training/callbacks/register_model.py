"""Publishes the trained model at the end of fit: a pyfunc model in the training run, registered with an alias."""

from __future__ import annotations

import copy
from pathlib import Path

from lightning.pytorch import Callback
from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from pseudocolor.lightning_modules.deploy.lineage import Lineage, checkpoint_origin, command_line, relative_to_cwd
from pseudocolor.lightning_modules.deploy.model_registry import DEFAULT_ALIAS, register_colorizer
from pseudocolor.lightning_modules.deploy.serving_limits import DEFAULT_LIMITS, ServingLimits
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.weights import DEFAULT_NETWORK_SIZE


class RegisterModelCallback(Callback):
    """On rank 0 after a successful fit, logs the model as `model` into the MLflow run and registers it.

    The weights are the best checkpoint's when a ModelCheckpoint kept one, else the final ones; the
    network size is the datamodule's `eval_size` when it has one. The run keeps its status; the version's source
    run is the fit's run, with the lineage `pseudocolor register` records (tags `source_run_id` and `checkpoint`,
    a description, the run's key params and that checkpoint's validation metrics on the LoggedModel).

    Args:
        name: registered model name; None uses the MLflow experiment's name.
        alias: alias pointed at the new version.
        limits: the served model's request limits (ServingLimits).
    """

    def __init__(
        self, name: str | None = None, alias: str = DEFAULT_ALIAS, limits: ServingLimits = DEFAULT_LIMITS
    ) -> None:
        self.name = name
        self.alias = alias
        self.limits = limits

    def _best_checkpoint(self, trainer) -> Path | None:
        checkpoint = getattr(trainer.checkpoint_callback, "best_model_path", "")
        return Path(checkpoint) if checkpoint and Path(checkpoint).is_file() else None

    def _colorizer(self, trainer, pl_module, checkpoint: Path | None) -> Colorizer:
        size = getattr(trainer.datamodule, "eval_size", DEFAULT_NETWORK_SIZE)
        if checkpoint is not None:
            colorizer = Colorizer.load(checkpoint)
            colorizer.size = size
            return colorizer
        return Colorizer(copy.deepcopy(pl_module.network).cpu(), temperature=pl_module.hparams.temperature, size=size)

    def _lineage(self, run_id: str, checkpoint: Path | None) -> Lineage:
        command = f"RegisterModelCallback at the end of `{command_line()}`"
        if checkpoint is None:  # the final weights: the run's last validation describes them
            return Lineage("the final weights of the fit", run_id, command=command)
        return Lineage(relative_to_cwd(checkpoint), run_id, checkpoint_origin(checkpoint)[1], command=command)

    def on_fit_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        logger = trainer.logger
        if not isinstance(logger, MLFlowLogger):
            rank_zero_warn("RegisterModelCallback needs an MLFlowLogger; the trained model was not registered")
            return
        name = self.name or logger.experiment.get_experiment(logger.experiment_id).name
        checkpoint = self._best_checkpoint(trainer)
        registration = register_colorizer(
            self._colorizer(trainer, pl_module, checkpoint), name, logger._tracking_uri,
            self._lineage(logger.run_id, checkpoint), logger.experiment_id, self.alias, limits=self.limits,
        )
        rank_zero_info(f"registered the trained model as {name} version {registration.version}: {registration.uri}")
