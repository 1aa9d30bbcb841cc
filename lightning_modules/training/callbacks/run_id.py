"""Gives every DDP rank the MLflow run id, which Lightning's MLFlowLogger only knows on rank 0, and writes it
into every checkpoint, so resuming from one continues the same run."""

from __future__ import annotations

from lightning.pytorch import Callback
from lightning.pytorch.loggers import MLFlowLogger

from pseudocolor.lightning_modules.deploy.lineage import RUN_ID_KEY  # read back by resume and `register`


class ShareMLflowRunId(Callback):
    """At setup, broadcasts rank 0's MLflow experiment and run ids: afterwards `pl_module.mlflow_run_id`
    and `trainer.logger.run_id` hold the run id on every rank (None without an MLFlowLogger).
    Logging itself stays on rank 0 (the logger's experiment is a no-op elsewhere)."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        logger = trainer.logger
        tracked = isinstance(logger, MLFlowLogger)
        ids = (logger.experiment_id, logger.run_id) if trainer.is_global_zero and tracked else None
        ids = trainer.strategy.broadcast(ids, src=0)
        experiment_id, run_id = ids if ids is not None else (None, None)
        if tracked and not trainer.is_global_zero:
            # MLFlowLogger takes a run id only when built; other ranks are told it here, through the attributes its
            # `run_id` / `experiment_id` properties read (tests/test_private_apis.py fails if Lightning renames them).
            logger._experiment_id, logger._run_id = experiment_id, run_id
        pl_module.mlflow_run_id = run_id

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint[RUN_ID_KEY] = getattr(pl_module, "mlflow_run_id", None)
