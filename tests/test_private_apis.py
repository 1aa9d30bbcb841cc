"""The few private Lightning names the package still relies on, each because no public API does the job (the reason
is in a comment where it is used). If an upgrade renames one, these tests say which and where."""

import inspect

from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import MLFlowLogger


def test_mlflow_logger_keeps_its_client_and_ids_in_the_attributes_we_set(tmp_path):
    logger = MLFlowLogger(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", run_id="abc")
    for name in ("_mlflow_client", "_run_id", "_experiment_id"):
        assert hasattr(logger, name), (
            f"MLFlowLogger.{name} is gone: update experiments/tracking/logger.py (_mlflow_client) and "
            "lightning_modules/training/callbacks/run_id.py (_run_id, _experiment_id)"
        )
    for prop, attribute in (("run_id", "_run_id"), ("experiment_id", "_experiment_id")):
        assert attribute in inspect.getsource(getattr(MLFlowLogger, prop).fget), (
            f"MLFlowLogger.{prop} no longer reads {attribute}: fix lightning_modules/training/callbacks/run_id.py"
        )


def test_lightning_cli_still_builds_each_subcommand_parser_in_one_method():
    assert "subcommand" in inspect.signature(LightningCLI._prepare_subcommand_parser).parameters, (
        "LightningCLI._prepare_subcommand_parser changed: fit's --resume flag (experiments/lightning_cli.py) needs "
        "another way in"
    )


def test_model_checkpoint_still_saves_last_through_the_methods_we_call():
    from lightning.pytorch.callbacks import ModelCheckpoint

    for name in (
        "_save_last_checkpoint", "_should_skip_saving_checkpoint", "_should_save_on_train_epoch_end", "_monitor_candidates"
    ):
        assert callable(getattr(ModelCheckpoint, name, None)), (
            f"ModelCheckpoint.{name} is gone: lightning_modules/training/callbacks/best_and_last_checkpoint.py needs "
            "another way to write last.ckpt after every validation"
        )


def test_mlflow_logger_still_uploads_checkpoints_through_the_method_we_override(tmp_path):
    from lightning.pytorch.loggers.utilities import _scan_checkpoints

    logger = MLFlowLogger(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert callable(getattr(MLFlowLogger, "_scan_and_log_checkpoints", None)), (
        "MLFlowLogger._scan_and_log_checkpoints is gone: experiments/tracking/logger.py uploads last.ckpt twice"
    )
    assert isinstance(getattr(logger, "_logged_model_time", None), dict)
    assert "logged_model_time" in inspect.signature(_scan_checkpoints).parameters, (
        "MLFlowLogger no longer skips files by _logged_model_time: fix TrackedMLFlowLogger._scan_and_log_checkpoints"
    )
    assert logger._tracking_uri, (
        "MLFlowLogger._tracking_uri is gone: lightning_modules/training/callbacks/system_metrics.py and "
        "register_model.py read the run's store from it"
    )


def test_model_checkpoint_still_saves_every_file_through_one_method():
    from lightning.pytorch.callbacks import ModelCheckpoint

    callback = ModelCheckpoint()
    assert list(inspect.signature(ModelCheckpoint._save_checkpoint).parameters) == ["self", "trainer", "filepath"], (
        "ModelCheckpoint._save_checkpoint changed: lightning_modules/training/callbacks/best_and_last_checkpoint.py "
        "hard-links last.ckpt there"
    )
    for name in ("_last_checkpoint_saved", "_last_global_step_saved", "last_model_path"):
        assert hasattr(callback, name), f"ModelCheckpoint.{name} is gone: fix best_and_last_checkpoint.py"
    source = inspect.getsource(ModelCheckpoint._save_last_checkpoint)
    assert 0 <= source.find("self.last_model_path") < source.find("self._save_checkpoint("), (
        "ModelCheckpoint no longer sets last_model_path before saving last.ckpt: fix best_and_last_checkpoint.py"
    )
