"""The logger uploads each checkpoint file once: the best, and last.ckpt only when it is not the best file."""

import mlflow
import pytest
from lightning.pytorch import Trainer

from pseudocolor.experiments.tracking.logger import TrackedMLFlowLogger
from pseudocolor.lightning_modules.training.callbacks import BestAndLastCheckpoint
from pseudocolor.lightning_modules.training.checkpoint_io import AtomicCheckpointIO
from tests.experiments.test_cli_fit import artifact_paths
from tests.lightning_modules.training.test_best_and_last_links import ScoredByEpoch


def uploaded_checkpoints(tmp_path, sign: float) -> list[str]:
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    logger = TrackedMLFlowLogger(experiment_name="uploads", tracking_uri=uri, unsent_dir=str(tmp_path / "unsent"))
    callback = BestAndLastCheckpoint(
        dirpath=tmp_path / "checkpoints", monitor="val/psnr", mode="max", save_last=True, filename="best-{epoch:03d}",
        enable_version_counter=False,
    )
    trainer = Trainer(
        max_epochs=3, limit_train_batches=2, limit_val_batches=1, callbacks=[callback], logger=logger,
        plugins=[AtomicCheckpointIO()], enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )
    trainer.fit(ScoredByEpoch(sign))
    return sorted(path for path in artifact_paths(mlflow.MlflowClient(uri), logger.run_id) if path.endswith(".ckpt"))


@pytest.mark.slow
def test_when_the_final_epoch_is_best_only_the_best_checkpoint_is_uploaded(tmp_path):
    assert uploaded_checkpoints(tmp_path, sign=+1) == ["best-epoch=002/best-epoch=002.ckpt"]


@pytest.mark.slow
def test_when_an_earlier_epoch_is_best_both_are_uploaded(tmp_path):
    assert uploaded_checkpoints(tmp_path, sign=-1) == ["best-epoch=000/best-epoch=000.ckpt", "last/last.ckpt"]
