"""MLflow's system metrics (CPU, memory, disk, network; GPU with pynvml) for a fit's run."""

from __future__ import annotations

import threading

from lightning.pytorch import Callback
from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.utilities import rank_zero_warn

STOP_TIMEOUT_S = 10.0  # the monitor's last read of the run can hang on an unreachable server: not the fit's end


class SystemMetrics(Callback):
    """On rank 0, runs MLflow's SystemMetricsMonitor for the fit's run from fit start to its end (or failure):
    `system/cpu_utilization_percentage`, `system/system_memory_usage_megabytes`, ... every `sampling_interval`
    seconds, on the run's "System metrics" tab. Its steps are sample counts, continued when a run is resumed.
    GPU figures need `pynvml` (nvidia-ml-py) installed. The monitor writes to the store directly, not through the
    logger's queue: while the tracking server is unreachable it stops.

    Args:
        enabled: False turns it off.
        sampling_interval: seconds between samples (MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL overrides it).
    """

    def __init__(self, enabled: bool = True, sampling_interval: float = 10.0) -> None:
        self.enabled = enabled
        self.sampling_interval = sampling_interval
        self._monitor = None

    def on_fit_start(self, trainer, pl_module) -> None:
        logger = trainer.logger
        if not self.enabled or not trainer.is_global_zero or not isinstance(logger, MLFlowLogger):
            return
        try:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor  # needs psutil

            self._monitor = SystemMetricsMonitor(
                logger.run_id,
                sampling_interval=self.sampling_interval,
                resume_logging=True,
                # MLFlowLogger keeps its URI only here (tests/test_private_apis.py watches it).
                tracking_uri=logger._tracking_uri,
            )
        except ImportError as error:
            rank_zero_warn(f"no system metrics: {error} (pip install psutil)")
            return
        self._monitor.start()

    def _stop(self) -> None:
        """Stop the monitor and send what it has queued, waiting at most STOP_TIMEOUT_S for it."""
        if self._monitor is not None:
            stopper = threading.Thread(target=self._monitor.finish, name="system-metrics-stop", daemon=True)
            stopper.start()
            stopper.join(STOP_TIMEOUT_S)
            self._monitor = None

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._stop()

    def teardown(self, trainer, pl_module, stage: str) -> None:
        self._stop()
