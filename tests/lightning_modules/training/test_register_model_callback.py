from pathlib import Path

import mlflow
import pytest
from lightning.pytorch import Trainer

from pseudocolor.datamodules.folder_datamodule import FolderDataModule
from pseudocolor.experiments.tracking.logger import TrackedMLFlowLogger
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.networks.residual_caffenet import ResidualCaffeNet
from pseudocolor.lightning_modules.training.callbacks import RegisterModelCallback
from pseudocolor.lightning_modules.training.colorization_module import ColorizationModule
from tests.conftest import write_photo


@pytest.mark.slow
def test_fit_registers_the_best_checkpoint_in_the_training_run(tmp_path):
    for index in range(4):
        write_photo(tmp_path / "photos" / f"p{index}.jpg", height=48, width=48, seed=index)
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    logger = TrackedMLFlowLogger(experiment_name="callback-test", tracking_uri=uri)
    data = FolderDataModule(
        root=str(tmp_path / "photos"), val_fraction=0.5, batch_size=2, crop_size=32, eval_size=32, num_workers=0
    )
    trainer = Trainer(
        max_epochs=1, logger=logger, default_root_dir=tmp_path, callbacks=[RegisterModelCallback()],
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )

    trainer.fit(ColorizationModule(network=ResidualCaffeNet(width_multiplier=0.25), prior_images=4), datamodule=data)

    client = mlflow.MlflowClient(uri)
    version = client.get_model_version_by_alias("callback-test", "champion")
    assert version.run_id == logger.run_id
    assert client.get_run(logger.run_id).info.status == "FINISHED"
    checkpoint = trainer.checkpoint_callback.best_model_path
    assert version.tags["source_run_id"] == logger.run_id
    assert Path(checkpoint).resolve() == Path(version.tags["checkpoint"]).resolve()
    assert "Validation (step " in version.description and "RegisterModelCallback" in version.description
    model = client.get_logged_model(version.source.removeprefix("models:/"))
    psnr = {metric.key: metric.value for metric in model.metrics}["val/psnr"]
    assert psnr == client.get_run(logger.run_id).data.metrics["val/psnr"]  # one epoch: the last validation
    assert model.params["size"] == "32"
    colorizer = Colorizer.load("models:/callback-test@champion", tracking_uri=uri)
    assert colorizer.size == 32
