"""`pseudocolor fit` through the real CLI, tracked in a real sqlite MLflow store."""

from pathlib import Path

import mlflow
import pytest

from pseudocolor.experiments.cli import main
from pseudocolor.experiments.lightning_cli import CONFIG_DIR
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from tests.conftest import requires_shared_data, write_photo

FAST = ["--trainer.limit_train_batches", "2", "--data.init_args.crop_size", "64", "--data.init_args.eval_size", "64"]


def artifact_paths(client: mlflow.MlflowClient, run_id: str, path: str = "") -> list[str]:
    paths = []
    for item in client.list_artifacts(run_id, path):
        paths.extend(artifact_paths(client, run_id, item.path) if item.is_dir else [item.path])
    return paths


def grid_steps(artifacts: list[str]) -> list[int]:
    """The steps of the `val/grid` images: MLflow 3 keeps them as images/val~grid+step+<step>+timestamp+...png."""
    return [int(path.split("+step+")[1].split("+")[0]) for path in artifacts
            if path.startswith("images/val~grid+step+") and path.endswith(".png")]


@pytest.mark.slow
def test_default_fit_leaves_a_complete_finished_run(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    main(["fit", "--trainer.max_epochs", "2", *FAST])

    client = mlflow.MlflowClient("sqlite:///mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("pseudocolor")
    assert experiment.artifact_location == (tmp_path / "mlruns" / "artifacts").as_uri()
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "max_epochs=2 limit_train_batches=2 crop_size=64 eval_size=64"
    assert run.data.params["model.optimizer.init_args.lr"] == "0.002"
    assert run.data.params["model.l1_weight"] == "10.0"
    assert run.data.params["data.class_path"] == "pseudocolor.datamodules.folder_datamodule.FolderDataModule"
    for metric in ("val/psnr", "val/ssim", "val/gray_psnr"):
        assert len(client.get_metric_history(run.info.run_id, metric)) == 2
    assert len(client.get_metric_history(run.info.run_id, "train/loss")) >= 2
    artifacts = artifact_paths(client, run.info.run_id)
    assert "config/fit.yaml" in artifacts
    assert sorted(grid_steps(artifacts)) == [0, 1]
    [best] = [path for path in artifacts if path.startswith("best-") and path.endswith(".ckpt")]
    checkpoint = Path(client.download_artifacts(run.info.run_id, best, str(tmp_path / "download")))
    assert Colorizer.load(checkpoint).network.width_multiplier == 0.5


@pytest.mark.slow
def test_fit_on_a_folder_of_users_photos(tmp_path, tracking_uri):
    for i in range(6):
        write_photo(tmp_path / "photos" / f"{i}.jpg", 80, 80, seed=i)
    main(["fit", "--trainer.max_epochs", "1", *FAST, "--data.init_args.root", str(tmp_path / "photos"),
          "--trainer.default_root_dir", str(tmp_path / "ckpt"), "--run_name", "my photos",
          "--run_description", "Six photos of mine."])
    [run] = mlflow.MlflowClient(tracking_uri).search_runs(["1"])
    assert run.info.run_name == "my photos"
    assert run.data.tags["mlflow.note.content"] == "Six photos of mine."  # the UI's run description
    assert run.info.status == "FINISHED" and run.data.params["data.init_args.root"] == str(tmp_path / "photos")


@pytest.mark.slow
@requires_shared_data("imagenette-mini")
@pytest.mark.parametrize("config", ["imagenette.yaml", "paper_sgd.yaml"])
def test_shipped_configs_fast_dev_run(tmp_path, tracking_uri, config):
    data = Path(__file__).resolve().parents[3] / "shared" / "data" / "imagenette-mini"
    configs = ["--config", str(CONFIG_DIR / "imagenette.yaml")]
    if config != "imagenette.yaml":
        configs += ["--config", str(CONFIG_DIR / config)]
    main(["fit", *configs, "--data.init_args.root", str(data), "--trainer.fast_dev_run", "1",
          "--trainer.precision", "32-true", "--model.network.init_args.width_multiplier", "0.25",
          "--model.prior_images", "8", "--data.init_args.batch_size", "2", "--data.init_args.num_workers", "0",
          "--trainer.default_root_dir", str(tmp_path)])
