"""Tracking outages: a real `mlflow server` stops answering while `pseudocolor fit` trains.

The fit runs in a subprocess against the server on 127.0.0.1; the test kills the server's process group
once some `train/loss` steps have arrived. Either it comes back ~30 s later on the same port and store and
must then hold everything, or it never comes back and the unsent writes must be in the file the fit names.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.entities import Metric

from pseudocolor.experiments.tracking.buffered_client import BufferedClient, TrackingRejectedError, replay
from tests.conftest import write_photo
from tests.experiments.mlflow_server import MlflowServer, free_port
from tests.experiments.test_cli_fit import artifact_paths

REPO = Path(__file__).resolve().parents[2]
NUM_PHOTOS = 20  # 16 train + 4 val
BATCH = 2
STEPS_PER_EPOCH = (NUM_PHOTOS - 4) // BATCH
OUTAGE_S = 30.0


def start_fit(tmp_path: Path, uri: str, epochs: int, step_s: float, extra_env: dict, *args: str) -> subprocess.Popen:
    """`python -m pseudocolor.experiments.cli fit` on generated photos in a subprocess, output to tmp_path/fit.log."""
    photos = tmp_path / "photos"
    for i in range(NUM_PHOTOS):
        write_photo(photos / f"{i:02d}.jpg", 64, 64, seed=i)
    command = [
        sys.executable, "-m", "pseudocolor.experiments.cli", "fit", "--trainer.max_epochs", str(epochs),
        "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
        "--trainer.num_sanity_val_steps", "0", "--trainer.default_root_dir", str(tmp_path / "checkpoints"),
        "--trainer.callbacks+=tests.experiments.slow_steps.SlowSteps", "--trainer.callbacks.seconds", str(step_s),
        "--model.network.init_args.width_multiplier", "0.25", "--model.prior_images", "8",
        "--data.init_args.root", str(photos), "--data.init_args.batch_size", str(BATCH),
        "--data.init_args.crop_size", "64", "--data.init_args.eval_size", "64", "--data.init_args.num_workers", "0",
        *args,
    ]
    env = {**os.environ, **extra_env, "MLFLOW_TRACKING_URI": uri, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    with (tmp_path / "fit.log").open("w") as log:
        return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)


def the_run(uri: str):
    """-> (a client of the server, the one run of experiment "pseudocolor" or None before it exists)."""
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("pseudocolor")
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    assert len(runs) <= 1, f"expected one MLflow run, found {len(runs)}"
    return client, runs[0] if runs else None


def wait_for_train_steps(uri: str, fit: subprocess.Popen, count: int, timeout_s: float = 180.0) -> str:
    """Poll the server until the fit's run holds `count` train/loss steps -> the run id."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert fit.poll() is None, "the fit ended before the outage began"
        client, run = the_run(uri)
        if run is not None and len(client.get_metric_history(run.info.run_id, "train/loss")) >= count:
            return run.info.run_id
        time.sleep(0.5)
    raise TimeoutError(f"the server did not receive {count} train/loss steps within {timeout_s:.0f} s")


def finish(fit: subprocess.Popen, log: Path, timeout_s: float = 300.0) -> str:
    fit.wait(timeout=timeout_s)
    output = log.read_text()
    assert fit.returncode == 0, output[-6000:]
    return output


def train_steps(client: mlflow.MlflowClient, run_id: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, "train/loss"))


@pytest.mark.slow
def test_a_30_s_outage_mid_training_loses_nothing(tmp_path):
    epochs = 5
    server = MlflowServer(tmp_path / "server").start()
    # MLflow's own HTTP retries off, so the buffer's retry (not urllib3's) carries the writes over the outage.
    fit = start_fit(tmp_path, server.uri, epochs, 0.6, {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    try:
        run_id = wait_for_train_steps(server.uri, fit, 3)
        server.stop()
        time.sleep(OUTAGE_S)
        assert fit.poll() is None, "training ended during the outage: make the fit longer"
        server.start()
        assert fit.poll() is None, "training ended before the server was back: make the fit longer"
        output = finish(fit, tmp_path / "fit.log")

        client, run = the_run(server.uri)
        assert run.info.run_id == run_id and run.info.status == "FINISHED"
        assert train_steps(client, run_id) == list(range(epochs * STEPS_PER_EPOCH))  # each step once, no gaps
        for metric in ("val/psnr", "val/ssim", "val/loss", "val/gray_psnr"):
            assert len(client.get_metric_history(run_id, metric)) == epochs, metric
        artifacts = set(artifact_paths(client, run_id))
        assert {"config/fit.yaml", "last/last.ckpt"} <= artifacts
        assert any(re.fullmatch(r"best-epoch=\d{3}/best-epoch=\d{3}\.ckpt", path) for path in artifacts), artifacts
        assert {f"val/grid_e{epoch:03d}.png" for epoch in range(epochs)} <= artifacts
        assert run.data.params["model.prior_images"] == "8"
        assert "MLflow tracking server unreachable" in output and "reachable again" in output
        assert not (tmp_path / "mlruns" / "unsent").exists()  # delivered, so no snapshots left behind
    finally:
        fit.kill()
        server.stop()


@pytest.mark.slow
def test_a_server_that_never_comes_back_leaves_a_replayable_file(tmp_path):
    epochs = 2
    server = MlflowServer(tmp_path / "server").start()
    # MLflow's default HTTP retries (minutes per request) stay on: the drain timeout must still bound the wait.
    fit = start_fit(tmp_path, server.uri, epochs, 0.3, {}, "--trainer.logger.init_args.drain_timeout", "3")
    try:
        run_id = wait_for_train_steps(server.uri, fit, 2)
        server.stop()
        started = time.monotonic()
        output = finish(fit, tmp_path / "fit.log")
        assert time.monotonic() - started < 120
    finally:
        fit.kill()
        server.stop()

    match = re.search(r"still unreachable after waiting 3 s, so (\d+) unsent writes were saved to (\S+) ", output)
    assert match, output[-3000:]
    unsent = Path(match[2])
    assert unsent == (tmp_path / "mlruns" / "unsent" / run_id / "operations.jsonl").resolve()
    operations = [json.loads(line) for line in unsent.read_text().splitlines()]
    assert len(operations) == int(match[1])
    assert operations[-1]["method"] == "set_terminated" and operations[-1]["kwargs"]["status"] == "FINISHED"
    uploads = [(op["kwargs"]["artifact_path"], Path(op["kwargs"]["local_path"])) for op in operations
               if op["method"] == "log_artifact"]
    assert ("last", unsent.parent) in [(path, file.parent.parent) for path, file in uploads]
    assert all(file.is_file() for _, file in uploads)  # snapshots kept beside the file

    server.start()  # it comes back after the fit: replaying the file completes the run
    try:
        client, run = the_run(server.uri)
        assert run.info.status == "RUNNING" and train_steps(client, run_id) != list(range(epochs * STEPS_PER_EPOCH))
        assert replay(unsent, client) == len(operations)
        client, run = the_run(server.uri)
        assert run.info.status == "FINISHED"
        assert train_steps(client, run_id) == list(range(epochs * STEPS_PER_EPOCH))
        assert len(client.get_metric_history(run_id, "val/psnr")) == epochs
        assert {"last/last.ckpt", "val/grid_e001.png"} <= set(artifact_paths(client, run_id))
    finally:
        server.stop()


def test_writes_return_at_once_and_are_saved_when_no_server_answers(tmp_path):
    client = BufferedClient(mlflow.MlflowClient(f"http://127.0.0.1:{free_port()}"), tmp_path / "unsent")
    (tmp_path / "notes.txt").write_text("kept")
    started = time.monotonic()
    client.log_batch("run1", metrics=[Metric("train/loss", 0.5, 1000, step) for step in range(3)])
    client.log_image("run1", np.zeros((8, 8, 3), np.uint8), artifact_file="val/grid.png")
    client.log_artifact("run1", tmp_path / "notes.txt", "notes")
    client.set_terminated("run1", "FINISHED")
    assert time.monotonic() - started < 1.0

    unsent = client.flush(timeout=1.0)

    assert unsent == tmp_path / "unsent" / "run1" / "operations.jsonl"
    operations = [json.loads(line) for line in unsent.read_text().splitlines()]
    assert [op["method"] for op in operations] == ["log_batch", "log_image", "log_artifact", "set_terminated"]
    assert [m["step"] for m in operations[0]["kwargs"]["metrics"]] == [0, 1, 2]
    assert np.load(operations[1]["kwargs"]["image"]).shape == (8, 8, 3)
    assert Path(operations[2]["kwargs"]["local_path"]).read_text() == "kept"


def test_a_refused_write_is_not_retried_but_raised(tmp_path):
    store = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = store.create_run(store.create_experiment("refusals")).info.run_id
    client = BufferedClient(store, tmp_path / "unsent")
    client.log_param(run_id, "lr", 0.1)
    client.log_param(run_id, "lr", 0.2)  # MLflow refuses to change a param
    client.log_text(run_id, "after", "notes.txt")

    assert client.flush(timeout=30.0) is None  # the refused write is dropped, the next one delivered
    with pytest.raises(TrackingRejectedError, match="log_batch for run .*Changing param values is not allowed"):
        client.raise_if_rejected()
    assert store.get_run(run_id).data.params == {"lr": "0.1"}
    assert [item.path for item in store.list_artifacts(run_id)] == ["notes.txt"]
    assert not (tmp_path / "unsent").exists()
