"""The training run's MLflow logger (buffered writes, checkpoints uploaded at the end) and the config saver."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.utilities import rank_zero_only

from pseudocolor.experiments.tracking.buffered_client import BufferedClient
from pseudocolor.experiments.tracking.config_params import config_params, flatten
from pseudocolor.experiments.tracking.store import DEFAULT_EXPERIMENT, artifact_location
from pseudocolor.experiments.tracking.unsent import DEFAULT_UNSENT_DIR
from pseudocolor.lightning_modules.inference.mlflow_store import resolve_tracking_uri

# The fit's wait for an unreachable tracking server at the end of training: long enough for a server restart
# (measured 27-56 s on 2 cores) with room to spare.
DEFAULT_TRACKING_WAIT_S = 300.0
# Lightning's finalize statuses -> MLflow run statuses.
RUN_STATUS = {"success": "FINISHED", "finished": "FINISHED", "failed": "FAILED"}


class TrackedMLFlowLogger(MLFlowLogger):
    """MLFlowLogger with the project's defaults: the resolved tracking URI, artifacts beside a local
    sqlite store, and the best/last checkpoints uploaded to the run at the end of training.

    Its writes go through a BufferedClient, so a tracking server that stops answering never blocks or
    crashes training: they are queued and retried in order, and the fit says once when the server stops
    answering and when it is back. At the end, `finalize` waits up to `drain_timeout` seconds for a server that
    does not answer (and as long as sending takes once it does), then saves what is still unsent under
    `unsent_dir` and sets `unsent` to that file; the next command that opens the store sends it.

    Given the `run_id` of an existing run (resuming), metric steps that run has already recorded are not
    logged again (a run killed after its last checkpoint re-trains those steps, and MLflow would keep both),
    and params it has are kept (MLflow refuses to change them; the new config is logged as a file).
    """

    def __init__(
        self,
        experiment_name: str = DEFAULT_EXPERIMENT,
        run_name: str | None = None,
        tracking_uri: str | None = None,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        log_model: bool = True,
        drain_timeout: float = DEFAULT_TRACKING_WAIT_S,
        unsent_dir: str = DEFAULT_UNSENT_DIR,
    ) -> None:
        uri = resolve_tracking_uri(tracking_uri)
        super().__init__(
            experiment_name=experiment_name,
            run_name=run_name,
            tracking_uri=uri,
            tags=tags,
            log_model=log_model,
            artifact_location=artifact_location(uri),
            run_id=run_id,
        )
        self.experiment_name, self.tracking_uri = experiment_name, uri
        self.drain_timeout, self.unsent_dir = drain_timeout, unsent_dir
        self.unsent: Path | None = None  # set by finalize when writes are left for a later command to send
        # MLFlowLogger has no public way to give it a client: every write goes through the one it keeps here
        # (tests/test_private_apis.py fails if Lightning renames it).
        self._mlflow_client = BufferedClient(self._mlflow_client, Path(unsent_dir))
        self._resumed = run_id is not None
        self._recorded_steps: dict[str, int] | None = None  # metric -> last step the run had before resuming

    def _steps_recorded_before(self) -> dict[str, int]:
        client, run_id = self.experiment, self.run_id
        return {
            key: max(metric.step for metric in client.get_metric_history(run_id, key))
            for key in client.get_run(run_id).data.metrics
        }

    @rank_zero_only
    def log_hyperparams(self, params) -> None:
        if self._resumed:
            recorded = self.experiment.get_run(self.run_id).data.params
            # keys as MLFlowLogger.log_hyperparams logs them: nested dicts and lists of dicts joined by '/'
            flat = flatten(params if isinstance(params, dict) else vars(params), separator="/")
            params = {key: value for key, value in flat.items() if key not in recorded}
        if params:
            super().log_hyperparams(params)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        if self._resumed and step is not None:
            if self._recorded_steps is None:
                self._recorded_steps = self._steps_recorded_before()
            metrics = {key: value for key, value in metrics.items() if step > self._recorded_steps.get(key, -1)}
        if metrics:
            super().log_metrics(metrics, step)

    def _scan_and_log_checkpoints(self, checkpoint_callback) -> None:
        """Upload the best checkpoint(s), and the last one only when it is not the best file itself (the epoch
        callback hard-links `last.ckpt` to the best checkpoint saved in the same step): each file once.

        Overrides a private MLFlowLogger method (called by `finalize`) and marks the last file as uploaded in its
        private `_logged_model_time`; tests/test_private_apis.py fails if Lightning renames either."""
        last = getattr(checkpoint_callback, "last_model_path", "")
        best = getattr(checkpoint_callback, "best_model_path", "")
        if last and best and last != best and _same_file(last, best):
            self._logged_model_time[last] = Path(last).stat().st_mtime
        super()._scan_and_log_checkpoints(checkpoint_callback)

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        """Lightning's finalize without its `get_run` (a read that fails while the server is down): queue the
        checkpoints and the run's end, then wait for the queue to drain."""
        if not self._initialized:
            return
        status = RUN_STATUS.get(status, status)
        if self._checkpoint_callback:
            self._scan_and_log_checkpoints(self._checkpoint_callback)
        self._mlflow_client.set_terminated(self.run_id, status)
        self.unsent = self._mlflow_client.flush(self.drain_timeout)
        if status != "FAILED":  # on failure, the error that stopped training is the one to show
            self._mlflow_client.raise_if_rejected()


def _same_file(first: str, second: str) -> bool:
    """Whether two checkpoint paths are one file on disk (hard links; False for missing or remote ones)."""
    try:
        return os.path.samefile(first, second)
    except (OSError, ValueError):
        return False


class MLflowSaveConfig(SaveConfigCallback):
    """Logs the fully resolved LightningCLI config to the MLflow run: as `config/<stage>.yaml` and as
    flat params (`model.optimizer.init_args.lr`, ...; see `config_params`), so runs can be compared in the UI.
    These are the run's only params: Lightning's own hparams logging, which would add the module's and the
    datamodule's init arguments again without their prefix (`ce_weight` beside `model.ce_weight`), is turned off.

    A resumed run (one that has params already) keeps its first config and params, which MLflow cannot
    change: the resuming config goes to `config/<stage>-resumed-<UTC time>.yaml`; only new keys become params."""

    def save_config(self, trainer, pl_module, stage) -> None:
        logger = trainer.logger
        if not isinstance(logger, MLFlowLogger):
            return
        stage_name = getattr(stage, "value", stage)  # Lightning passes a TrainerFn enum
        recorded = logger.experiment.get_run(logger.run_id).data.params
        name = f"{stage_name}-resumed-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}" if recorded else stage_name
        text = self.parser.dump(self.config, skip_none=False)
        logger.experiment.log_text(logger.run_id, text, f"config/{name}.yaml")
        logger.log_hyperparams(config_params(self.config.clone().as_dict()))
        # Called before the trainer's own hparams logging (which comes after on_fit_start), on rank 0, the rank
        # that logs; the config above holds every module and datamodule argument under its full key.
        trainer.enable_autolog_hparams = False
