"""What a `pseudocolor fit` run records for a team to tell runs apart and trace them in MLflow: each config value once
as a param, per-epoch metrics at one step, `val/psnr_gain`, the picture grid as a stepped image, the data as
dataset inputs, system metrics, and tags naming the code and hardware. One tiny real fit in a git checkout."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from PIL import Image

from pseudocolor.datamodules.folder_datamodule import FolderDataModule
from pseudocolor.experiments.cli import main
from pseudocolor.experiments.tracking.config_params import config_params
from pseudocolor.lightning_modules.training.callbacks.dataset_inputs import file_list_digest
from pseudocolor.lightning_modules.training.callbacks.run_tags import git_state
from tests.conftest import write_photo
from tests.experiments.test_cli_fit import FAST, artifact_paths, grid_steps

EPOCHS = 2
NUM_PHOTOS = 8  # 6 train + 2 val (val_fraction 0.2)
pytestmark = pytest.mark.slow


def git(folder: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def fit_run(tmp_path_factory):
    """(client, run, working directory) of a 2-epoch fit started in a git checkout with a changed tracked file."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    folder = tmp_path_factory.mktemp("record")
    git(folder, "init", "-q")
    (folder / "notes.txt").write_text("first")
    git(folder, "add", "notes.txt")
    git(folder, "commit", "-q", "-m", "notes")
    (folder / "notes.txt").write_text("changed")  # a dirty checkout
    for index in range(NUM_PHOTOS):
        write_photo(folder / "photos" / f"{index}.jpg", 64, 64, seed=index)
    with pytest.MonkeyPatch.context() as patch:
        # An absolute URI: MLflow caches a sqlite store per URI string, so the relative default could reach the
        # store of an earlier test's working directory in the same process.
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}")
        patch.chdir(folder)
        main(["fit", "--trainer.max_epochs", str(EPOCHS), *FAST, "--trainer.accelerator", "cpu",
              "--model.network.init_args.width_multiplier", "0.25", "--model.prior_images", "8",
              "--data.init_args.root", str(folder / "photos"), "--data.init_args.batch_size", "2",
              "--data.init_args.num_workers", "0", "--system_metrics.sampling_interval", "0.2"])
    client = mlflow.MlflowClient(f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}")
    [run] = client.search_runs([client.get_experiment_by_name("pseudocolor").experiment_id])
    assert run.info.status == "FINISHED"
    return client, run, folder


def steps(client: mlflow.MlflowClient, run_id: str, key: str) -> list[int]:
    return sorted(metric.step for metric in client.get_metric_history(run_id, key))


def test_params_are_each_config_value_once_under_its_full_key(fit_run):
    client, run, folder = fit_run
    params = run.data.params
    logged = client.download_artifacts(run.info.run_id, "config/fit.yaml", str(folder / "dl"))
    config = yaml.safe_load(Path(logged).read_text())
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert set(params) == set(config_params(config))
    assert params["model.ce_weight"] == "0.2" and params["data.init_args.batch_size"] == "2"
    assert params["model.optimizer.init_args.lr"] == "0.002"
    for unprefixed in ("ce_weight", "batch_size", "root", "prior_images", "temperature"):  # Lightning's own hparams
        assert unprefixed not in params
    assert not [key for key in params if "/" in key or any(part.startswith("_") for part in key.split("."))]
    assert "config" not in params
    assert params["trainer.plugins.0.class_path"].endswith("AtomicCheckpointIO")
    assert params["data.init_args.root"] == "photos"  # given as an absolute path inside the working directory


def test_val_psnr_gain_is_logged_each_validation_beside_val_psnr(fit_run):
    client, run, _ = fit_run
    run_id = run.info.run_id
    history = {key: {m.step: m.value for m in client.get_metric_history(run_id, key)}
               for key in ("val/psnr", "val/gray_psnr", "val/psnr_gain")}
    assert len(history["val/psnr_gain"]) == EPOCHS
    assert history["val/psnr_gain"].keys() == history["val/psnr"].keys() == history["val/gray_psnr"].keys()
    for step, gain in history["val/psnr_gain"].items():
        assert gain == pytest.approx(history["val/psnr"][step] - history["val/gray_psnr"][step], abs=1e-4)


def test_epoch_metrics_share_the_validation_step(fit_run):
    client, run, _ = fit_run
    validation = steps(client, run.info.run_id, "val/psnr")
    assert len(validation) == EPOCHS
    for key in ("data/train_skipped_bad", "data/train_skipped_grey", "data/val_skipped_bad", "data/val_skipped_grey",
                "val/loss", "val/ssim"):
        assert steps(client, run.info.run_id, key) == validation, key


def test_the_picture_grid_is_an_image_with_a_step_per_epoch_and_column_titles(fit_run):
    client, run, folder = fit_run
    images = [path for path in artifact_paths(client, run.info.run_id, "images") if path.endswith(".png")]
    assert sorted(grid_steps(images)) == list(range(EPOCHS)) and len(images) == EPOCHS  # step = epoch
    assert run.data.tags["mlflow.loggedImages"] == "True"
    assert not [path for path in artifact_paths(client, run.info.run_id) if path.startswith("val/grid")]
    picture = np.asarray(Image.open(client.download_artifacts(run.info.run_id, images[0], str(folder / "img"))))
    rows = 2  # the val batch holds the 2 validation photos
    band = picture.shape[0] - (rows * (64 + 2) + 2)
    assert 8 < band < 40, picture.shape  # a title band above the grid
    assert picture.shape[1] == 3 * (64 + 2) + 2
    titles = picture[:band]
    for column in range(3):  # dark text over each column
        assert (titles[:, 2 + column * 66: 2 + column * 66 + 64] < 100).any(), column


def test_the_training_and_validation_photos_are_dataset_inputs(fit_run):
    _, run, folder = fit_run
    inputs = {item.tags[0].value: item.dataset for item in run.inputs.dataset_inputs}
    assert sorted(inputs) == ["training", "validation"]
    assert all(item.tags[0].key == "mlflow.data.context" for item in run.inputs.dataset_inputs)
    split = FolderDataModule(root=str(folder / "photos"), val_fraction=0.2, seed=0)  # the fit's split
    expected = {"training": split.train_files(), "validation": split.val_files()}
    for context, dataset in inputs.items():
        assert json.loads(dataset.profile) == {"photos": len(expected[context])}
        assert dataset.digest == file_list_digest(folder / "photos", expected[context])
        assert dataset.name == "photos" and dataset.source_type == "local"
        assert json.loads(dataset.source) == {"uri": str((folder / "photos").resolve())}
    assert (len(expected["training"]), len(expected["validation"])) == (6, 2)
    assert inputs["training"].digest != inputs["validation"].digest


def test_system_metrics_are_recorded(fit_run):
    _, run, _ = fit_run
    assert "system/cpu_utilization_percentage" in run.data.metrics
    assert "system/system_memory_usage_megabytes" in run.data.metrics


def test_tags_name_the_commit_the_version_and_the_hardware(fit_run):
    _, run, folder = fit_run
    tags = run.data.tags
    assert tags["mlflow.source.git.commit"] == git(folder, "rev-parse", "HEAD")
    assert tags["git.dirty"] == "true"
    assert tags["pseudocolor.version"]
    assert (tags["device"], tags["precision"], tags["world_size"]) == ("cpu", "32-true", "1")


def test_the_best_checkpoint_is_uploaded_once(fit_run):
    client, run, _ = fit_run
    checkpoints = sorted(path for path in artifact_paths(client, run.info.run_id) if path.endswith(".ckpt"))
    best = [path for path in checkpoints if path.startswith("best-")]
    assert len(best) == 1
    final_is_best = best[0] == f"best-epoch={EPOCHS - 1:03d}/best-epoch={EPOCHS - 1:03d}.ckpt"
    assert checkpoints == sorted(best + ([] if final_is_best else ["last/last.ckpt"]))  # last only when it differs


def test_git_state_outside_a_checkout_is_empty(tmp_path):
    assert git_state(tmp_path) == {}
