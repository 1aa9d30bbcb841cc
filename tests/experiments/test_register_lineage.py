"""Lineage: `pseudocolor register` of a fit's checkpoint logs the model into the training run, with the run's key
params, the checkpoint's validation metrics, tags and a description; other models get a tagged run of their own."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
import torch

from pseudocolor.experiments.cli import main as pseudocolor
from pseudocolor.experiments.commands.register import main as register
from pseudocolor.lightning_modules.inference.mlflow_store import using_store
from tests.conftest import write_photo

FIT = [
    "fit", "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "2", "--data.init_args.root", "photos",
    "--data.init_args.crop_size", "64", "--data.init_args.eval_size", "64", "--data.init_args.batch_size", "2",
    "--model.network.init_args.width_multiplier", "0.25", "--model.prior_images", "4", "--run_name", "lineage",
]


@dataclass(frozen=True)
class Fitted:
    folder: Path
    uri: str
    run: mlflow.entities.Run  # as the fit left it
    checkpoint: str  # the best checkpoint, relative to `folder`


def checkpoint_validation(fitted: Fitted, name: str = "val/psnr") -> mlflow.entities.Metric:
    """The training run's `name` from the validation of the best checkpoint's epoch."""
    epoch = torch.load(fitted.folder / fitted.checkpoint, weights_only=True)["epoch"]
    client = mlflow.MlflowClient(fitted.uri)
    epoch_at = {metric.step: metric.value for metric in client.get_metric_history(fitted.run.info.run_id, "epoch")}
    [metric] = [m for m in client.get_metric_history(fitted.run.info.run_id, name) if epoch_at[m.step] == epoch]
    return metric


def run_register(folder: Path, *args: str) -> str:
    """`pseudocolor register ARGS` in `folder` -> what it printed (asserts exit status 0)."""
    printed = io.StringIO()
    with contextlib.chdir(folder), contextlib.redirect_stdout(printed):
        assert register(list(args)) == 0
    return printed.getvalue()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Fitted:
    folder = tmp_path_factory.mktemp("lineage")
    for index in range(6):
        write_photo(folder / "photos" / f"{index}.jpg", 80, 80, seed=index)
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.chdir(folder)
        pseudocolor(FIT)
    [run] = mlflow.MlflowClient(uri).search_runs(["1"])
    [checkpoint] = (folder / "mlruns" / "1" / run.info.run_id / "checkpoints").glob("best-*.ckpt")
    return Fitted(folder, uri, run, checkpoint.relative_to(folder).as_posix())


@pytest.fixture(scope="module")
def from_checkpoint(fitted) -> mlflow.entities.model_registry.ModelVersion:
    """The version `pseudocolor register --model <best checkpoint>` made."""
    output = run_register(fitted.folder, "--model", fitted.checkpoint, "--name", "fitted", "--tracking-uri", fitted.uri)
    assert f"logged into its training run {fitted.run.info.run_id}" in output
    return mlflow.MlflowClient(fitted.uri).get_model_version_by_alias("fitted", "champion")


def logged_model(uri: str, version) -> mlflow.entities.LoggedModel:
    return mlflow.MlflowClient(uri).get_logged_model(version.source.removeprefix("models:/"))


@pytest.mark.slow
def test_a_checkpoint_is_registered_from_its_training_run(fitted, from_checkpoint):
    training_run_id = fitted.run.info.run_id
    assert from_checkpoint.run_id == training_run_id
    assert from_checkpoint.tags == {"source_run_id": training_run_id, "checkpoint": fitted.checkpoint}
    assert logged_model(fitted.uri, from_checkpoint).source_run_id == training_run_id
    client = mlflow.MlflowClient(fitted.uri)
    run = client.get_run(training_run_id)
    assert [output.model_id for output in run.outputs.model_outputs] == [from_checkpoint.source.removeprefix("models:/")]
    # the run is as the fit left it: same status and end, no metric logged twice
    assert (run.info.status, run.info.end_time) == ("FINISHED", fitted.run.info.end_time)
    assert len(client.get_metric_history(training_run_id, "val/psnr")) == 2


@pytest.mark.slow
def test_the_version_describes_data_epochs_and_validation_psnr(fitted, from_checkpoint):
    epoch = torch.load(fitted.folder / fitted.checkpoint, weights_only=True)["epoch"]
    psnr, gray = checkpoint_validation(fitted).value, checkpoint_validation(fitted, "val/gray_psnr").value
    description = from_checkpoint.description
    assert f"Weights: {fitted.checkpoint}, epoch {epoch} (0-based)." in description
    assert f"Training run: lineage ({fitted.run.info.run_id}) on photos, 2 epochs" in description
    assert f"PSNR {psnr:.2f} dB vs {gray:.2f} dB for the colourless grey input" in description
    assert f"Registered by: pseudocolor register --model {fitted.checkpoint} --name fitted" in description


@pytest.mark.slow
def test_the_logged_model_has_the_key_params_and_the_checkpoints_validation_metrics(fitted, from_checkpoint):
    model = logged_model(fitted.uri, from_checkpoint)
    assert {
        "model.optimizer.init_args.lr": "0.002",
        "model.network.init_args.width_multiplier": "0.25",
        "data.init_args.root": "photos",
        "data.init_args.batch_size": "2",
        "trainer.max_epochs": "2",
    }.items() <= model.params.items()
    assert model.params["max_pixels"] == "16000000"
    metrics = {metric.key: (metric.step, metric.value) for metric in model.metrics}
    for name in ("val/psnr", "val/ssim", "val/gray_psnr"):
        expected = checkpoint_validation(fitted, name)
        assert metrics[name] == (expected.step, expected.value)


@pytest.mark.slow
def test_no_temporary_path_is_recorded(fitted, from_checkpoint, tmp_path):
    with using_store(fitted.uri):
        local = Path(mlflow.artifacts.download_artifacts("models:/fitted@champion", dst_path=str(tmp_path)))
    mlmodel = (local / "MLmodel").read_text()
    assert "/tmp/pseudocolor-register" not in mlmodel and "pseudocolor-register-" not in mlmodel
    assert "model_code_path: serving_entry.py" in mlmodel
    version_text = repr((from_checkpoint.tags, from_checkpoint.description, from_checkpoint.source))
    assert "pseudocolor-register-" not in version_text
    assert mlflow.pyfunc.load_model(str(local)).metadata.run_id == fitted.run.info.run_id


@pytest.mark.slow
def test_a_models_uri_of_a_trained_version_keeps_its_lineage(fitted, from_checkpoint):
    run_register(fitted.folder, "--model", "models:/fitted@champion", "--name", "again", "--tracking-uri", fitted.uri)
    version = mlflow.MlflowClient(fitted.uri).get_model_version("again", "1")
    assert version.run_id == fitted.run.info.run_id
    assert version.tags == from_checkpoint.tags
    first, second = (logged_model(fitted.uri, v) for v in (from_checkpoint, version))
    assert [(m.key, m.step, m.value) for m in second.metrics] == [(m.key, m.step, m.value) for m in first.metrics]


@pytest.mark.slow
def test_pretrained_gets_a_run_of_its_own_tagged_with_where_it_came_from(fitted):
    output = run_register(fitted.folder, "--model", "pretrained", "--name", "shipped", "--tracking-uri", fitted.uri)
    assert "no training run: logged into a new run" in output
    client = mlflow.MlflowClient(fitted.uri)
    version = client.get_model_version("shipped", "1")
    assert version.run_id != fitted.run.info.run_id
    assert version.tags == {"checkpoint": "pretrained"}
    assert "No training run recorded." in version.description
    run = client.get_run(version.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "register pretrained"
    assert run.data.tags["pseudocolor.command"] == "register" and run.data.tags["checkpoint"] == "pretrained"
    assert run.data.tags["mlflow.note.content"] == version.description


@pytest.mark.slow
def test_a_checkpoint_of_another_store_gets_a_new_run_naming_its_training_run(fitted, tmp_path):
    other = f"sqlite:///{tmp_path / 'other' / 'mlflow.db'}"
    checkpoint = str(fitted.folder / fitted.checkpoint)
    run_register(tmp_path, "--model", checkpoint, "--name", "elsewhere", "--tracking-uri", other)
    client = mlflow.MlflowClient(other)
    version = client.get_model_version("elsewhere", "1")
    training_run_id = fitted.run.info.run_id
    assert version.run_id != training_run_id
    assert version.tags == {"source_run_id": training_run_id, "checkpoint": checkpoint}
    assert f"Training run {training_run_id}: not in this store." in version.description
    assert client.get_run(version.run_id).data.tags["source_run_id"] == training_run_id


def test_register_help_says_where_the_model_is_logged(capsys):
    with pytest.raises(SystemExit):
        pseudocolor(["register", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "is logged into that run" in text and "tagged `source_run_id` and `checkpoint`" in text
