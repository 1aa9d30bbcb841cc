"""Kill and resume: a `pseudocolor fit` SIGKILLed mid-epoch continues from its last step checkpoint, in the same
MLflow run, and ends where an uninterrupted run with the same seed ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import torch

from tests.conftest import PickledCode, write_photo

REPO = Path(__file__).resolve().parents[2]
NUM_PHOTOS = 20  # 16 train + 4 val: 8 steps per epoch at batch 2
EPOCHS = 2
CHECKPOINT_EVERY = 3
KILL_AFTER = 11  # mid-epoch 2; the last step checkpoint is at step 9, steps 10-11 are trained twice
pytestmark = pytest.mark.slow


def fit(folder: Path, photos: Path, *extra: str, kill_after: int = 0) -> subprocess.CompletedProcess:
    """Run `pseudocolor fit` in a subprocess, cwd `folder` (store and checkpoints under folder/mlruns)."""
    callback = {
        "class_path": "tests.experiments.kill_switch.StepRecorder",
        "init_args": {"record": str(folder / "steps.jsonl"), "weights": str(folder / "weights.pt"),
                      "kill_after_step": kill_after},
    }
    (folder / "record.yaml").write_text(json.dumps({"trainer": {"callbacks": [callback]}}))
    args = [
        "fit", "--config", str(folder / "record.yaml"),
        "--trainer.max_epochs", str(EPOCHS), "--trainer.enable_progress_bar", "false",
        "--trainer.num_sanity_val_steps", "0", "--step_checkpoint.every_n_train_steps", str(CHECKPOINT_EVERY),
        "--model.network.init_args.width_multiplier", "0.25", "--model.prior_images", "16",
        "--model.scheduler", "torch.optim.lr_scheduler.StepLR", "--model.scheduler.step_size", "1",
        "--data.init_args.root", str(photos), "--data.init_args.batch_size", "2", "--data.init_args.augment", "false",
        "--data.init_args.crop_size", "48", "--data.init_args.eval_size", "48", "--data.init_args.num_workers", "0",
        *extra,
    ]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}",
           "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "pseudocolor.experiments.cli", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)


def steps_seen(folder: Path) -> dict[int, list[str]]:
    """step -> files, from the recorder; a step trained twice (killed, then resumed) keeps its last record."""
    lines = (folder / "steps.jsonl").read_text().splitlines()
    return {record["step"]: record["files"] for record in map(json.loads, lines)}


def only_run(folder: Path) -> tuple[mlflow.MlflowClient, mlflow.entities.Run]:
    client = mlflow.MlflowClient(f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("pseudocolor").experiment_id])
    assert len(runs) == 1, f"expected one MLflow run, found {len(runs)}"
    return client, runs[0]


def history(client: mlflow.MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((metric.step, metric.value) for metric in client.get_metric_history(run_id, key))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """(uninterrupted run folder, killed-and-resumed run folder), each with its own store."""
    root = tmp_path_factory.mktemp("resume")
    photos = root / "photos"
    for index in range(NUM_PHOTOS):
        write_photo(photos / f"p{index:02d}.jpg", 64, 80, seed=index)
    reference, resumed = root / "reference", root / "resumed"
    for folder in (reference, resumed):
        folder.mkdir()
    done = fit(reference, photos)
    assert done.returncode == 0, done.stderr[-4000:]
    killed = fit(resumed, photos, kill_after=KILL_AFTER)
    assert killed.returncode == -9, f"expected the SIGKILL, got {killed.returncode}: {killed.stderr[-3000:]}"
    (last,) = (resumed / "mlruns").glob("*/*/checkpoints/last.ckpt")
    checkpointed_step = torch.load(last, weights_only=True)["global_step"]
    assert checkpointed_step == KILL_AFTER // CHECKPOINT_EVERY * CHECKPOINT_EVERY  # the step checkpoint, mid-epoch
    again = fit(resumed, photos, "--ckpt_path", "last")
    assert again.returncode == 0, again.stderr[-4000:]
    return reference, resumed


def test_resumed_run_trains_the_same_batches_and_ends_with_the_same_weights(runs):
    reference, resumed = runs
    assert steps_seen(resumed) == steps_seen(reference)  # sampler position and per-epoch shuffle restored
    expected, actual = torch.load(reference / "weights.pt"), torch.load(resumed / "weights.pt")
    for name, value in expected.items():  # optimizer moments and the LR schedule restored too
        torch.testing.assert_close(actual[name], value, atol=1e-5, rtol=1e-4, msg=name)


def test_resume_continues_the_same_mlflow_run_logging_each_step_once(runs):
    reference, resumed = runs
    client, run = only_run(resumed)
    reference_client, reference_run = only_run(reference)
    assert run.info.status == "FINISHED"
    for key in ("train/loss", "val/psnr", "val/loss"):
        logged = history(client, run.info.run_id, key)
        steps = [step for step, _ in logged]
        assert len(steps) == len(set(steps)), f"{key}: a step logged twice: {steps}"
        expected = history(reference_client, reference_run.info.run_id, key)
        assert steps == [step for step, _ in expected], key  # no gap either
        torch.testing.assert_close(torch.tensor([v for _, v in logged]), torch.tensor([v for _, v in expected]),
                                   atol=1e-4, rtol=1e-4)
    configs = [item.path for item in client.list_artifacts(run.info.run_id, "config")]
    assert "config/fit.yaml" in configs and any("resumed" in path for path in configs), configs


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path):
    photos = tmp_path / "photos"
    for index in range(4):
        write_photo(photos / f"p{index}.jpg", seed=index)
    result = fit(tmp_path, photos, "--resume")
    assert result.returncode != 0
    assert "no last checkpoint to resume from" in result.stderr.splitlines()[-1]


def test_a_checkpoint_with_pickled_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code_ran"
    torch.save({"payload": PickledCode(str(marker))}, tmp_path / "evil.ckpt")
    result = fit(tmp_path, tmp_path, "--ckpt_path", str(tmp_path / "evil.ckpt"))
    assert result.returncode == 2
    assert "evil.ckpt: this checkpoint holds pickled code, which pseudocolor never runs" in result.stderr.splitlines()[-1]
    assert not marker.exists()
