"""Tracking outages: a real `mlflow server` stops answering while `pseudocolor fit` trains, default settings.

The fit runs in a subprocess against the server on 127.0.0.1; the test kills the server's process group
once some `train/loss` steps have arrived. Either it comes back 30 s later on the same port and store (during
training, or after it while the fit waits) and must then hold everything, or it stays down past the fit's wait:
the fit exits UNSENT_STATUS naming the unsent folder and `pseudocolor sync`, which completes the run later.
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

from pseudocolor.experiments.tracking.buffered_client import BufferedClient, Operation, TrackingRejectedError
from pseudocolor.experiments.tracking.store import prepare_store
from pseudocolor.experiments.tracking.unsent import REPLAYED_TAG, UNSENT_STATUS
from tests.conftest import write_photo
from tests.experiments.mlflow_server import MlflowServer, free_port
from tests.experiments.test_cli_fit import artifact_paths, grid_steps

REPO = Path(__file__).resolve().parents[2]
NUM_PHOTOS = 20  # 16 train + 4 val
BATCH = 2
STEPS_PER_EPOCH = (NUM_PHOTOS - 4) // BATCH
OUTAGE_S = 30.0


def start_fit(tmp_path: Path, uri: str, epochs: int, step_s: float, *args: str) -> subprocess.Popen:
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
    env = {**cli_env(uri), "OMP_NUM_THREADS": "1"}
    with (tmp_path / "fit.log").open("w") as log:
        return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)


def cli_env(uri: str) -> dict[str, str]:
    """The environment of a `pseudocolor` command on the store at `uri`, MLflow's HTTP settings left at defaults."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_HTTP_REQUEST")}
    return {**env, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(REPO)}


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


def finish(fit: subprocess.Popen, log: Path, status: int = 0, timeout_s: float = 300.0) -> str:
    fit.wait(timeout=timeout_s)
    output = log.read_text()
    assert fit.returncode == status, output[-6000:]
    return output


def assert_complete(uri: str, run_id: str, epochs: int) -> mlflow.entities.Run:
    """The run is FINISHED with every train step once, one value per validation, the checkpoints and grids."""
    client, run = the_run(uri)
    assert run.info.run_id == run_id and run.info.status == "FINISHED"
    assert train_steps(client, run_id) == list(range(epochs * STEPS_PER_EPOCH))  # each step once, no gaps
    for metric in ("val/psnr", "val/ssim", "val/loss", "val/gray_psnr"):
        assert len(client.get_metric_history(run_id, metric)) == epochs, metric
    artifacts = set(artifact_paths(client, run_id))
    assert "config/fit.yaml" in artifacts
    best = [int(m[1]) for path in artifacts if (m := re.fullmatch(r"best-epoch=(\d{3})/best-epoch=\d{3}\.ckpt", path))]
    assert len(best) == 1, artifacts
    assert ("last/last.ckpt" in artifacts) == (best[0] != epochs - 1), artifacts  # last uploaded when it differs
    assert sorted(grid_steps(artifacts)) == list(range(epochs))  # key "val/grid", step = epoch
    assert run.data.params["model.prior_images"] == "8"
    return run


def train_steps(client: mlflow.MlflowClient, run_id: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, "train/loss"))


@pytest.mark.slow
def test_a_30_s_outage_mid_training_loses_nothing(tmp_path):
    epochs = 5
    server = MlflowServer(tmp_path / "server").start()
    fit = start_fit(tmp_path, server.uri, epochs, 0.6)
    try:
        run_id = wait_for_train_steps(server.uri, fit, 3)
        server.stop()
        time.sleep(OUTAGE_S)
        assert fit.poll() is None, "training ended during the outage: make the fit longer"
        server.start()
        assert fit.poll() is None, "training ended before the server was back: make the fit longer"
        output = finish(fit, tmp_path / "fit.log")

        assert_complete(server.uri, run_id, epochs)
        # Said once when it went away (not minutes later, after MLflow's own retries), and when it was back.
        assert output.count("MLflow tracking server unreachable") == 1 and "reachable again" in output
        assert not (tmp_path / "mlruns" / "unsent").exists()  # delivered, so no snapshots left behind
    finally:
        fit.kill()
        server.stop()


@pytest.mark.slow
def test_an_outage_past_the_end_of_training_is_waited_for(tmp_path):
    epochs = 2
    server = MlflowServer(tmp_path / "server").start()
    fit = start_fit(tmp_path, server.uri, epochs, 0.3)
    try:
        run_id = wait_for_train_steps(server.uri, fit, 2)
        server.stop()
        time.sleep(OUTAGE_S)
        assert "`max_epochs=2` reached" in (tmp_path / "fit.log").read_text(), "training outlasted the outage"
        assert fit.poll() is None, "the fit did not wait for the server"
        server.start()
        finish(fit, tmp_path / "fit.log")
        assert_complete(server.uri, run_id, epochs)
        assert not (tmp_path / "mlruns" / "unsent").exists()
    finally:
        fit.kill()
        server.stop()


@pytest.mark.slow
def test_a_server_gone_past_the_wait_leaves_writes_that_sync_sends(tmp_path):
    epochs = 2
    server = MlflowServer(tmp_path / "server").start()
    fit = start_fit(tmp_path, server.uri, epochs, 0.3, "--tracking_wait", "3")
    try:
        run_id = wait_for_train_steps(server.uri, fit, 2)
        server.stop()
        output = finish(fit, tmp_path / "fit.log", status=UNSENT_STATUS)
    finally:
        fit.kill()
        server.stop()

    folder = (tmp_path / "mlruns" / "unsent" / run_id).resolve()
    last_line = output.strip().splitlines()[-1]
    assert str(folder) in last_line and "pseudocolor sync" in last_line, last_line
    operations = [json.loads(line) for line in (folder / "operations.jsonl").read_text().splitlines()]
    assert operations[-1]["method"] == "set_terminated" and operations[-1]["kwargs"]["status"] == "FINISHED"
    uploads = [Path(op["kwargs"]["local_path"]) for op in operations if op["method"] == "log_artifact"]
    assert uploads and all(file.is_file() and file.parent.parent == folder for file in uploads)  # snapshots kept

    server.start()  # back after the fit: the next command on the store sends what was kept
    try:
        _, run = the_run(server.uri)
        assert run.info.status == "RUNNING"
        sync = subprocess.run([sys.executable, "-m", "pseudocolor.experiments.cli", "sync"], cwd=tmp_path,
                              env=cli_env(server.uri), capture_output=True, text=True, timeout=120)
        assert sync.returncode == 0, sync.stdout + sync.stderr
        assert f"sent {len(operations)} writes" in sync.stdout
        run = assert_complete(server.uri, run_id, epochs)
        assert run.data.tags[REPLAYED_TAG] == str(len(operations))
        assert not folder.exists()
    finally:
        server.stop()


def test_the_next_command_opening_the_store_sends_kept_writes(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    store = mlflow.MlflowClient(uri)
    run_id = store.create_run(store.create_experiment("pseudocolor")).info.run_id
    folder = tmp_path / "mlruns" / "unsent" / run_id
    folder.mkdir(parents=True)
    metrics = [{"key": "train/loss", "value": 0.5, "timestamp": 1000, "step": step} for step in range(3)]
    kept = [Operation("log_batch", {"run_id": run_id, "metrics": metrics, "params": [], "tags": []}),
            Operation("set_terminated", {"run_id": run_id, "status": "FINISHED", "end_time": 2000})]
    (folder / "operations.jsonl").write_text("".join(operation.to_json() + "\n" for operation in kept))
    (folder / "tracking_uri.txt").write_text(uri)
    (tmp_path / "mlruns" / "unsent" / "other").mkdir()  # kept for another store: left alone
    (tmp_path / "mlruns" / "unsent" / "other" / "operations.jsonl").write_text(kept[1].to_json() + "\n")
    (tmp_path / "mlruns" / "unsent" / "other" / "tracking_uri.txt").write_text("http://127.0.0.1:1")
    monkeypatch.chdir(tmp_path)

    prepare_store(uri, "pseudocolor")

    run = store.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags[REPLAYED_TAG] == "2"
    assert [m.step for m in store.get_metric_history(run_id, "train/loss")] == [0, 1, 2]
    assert not folder.exists() and (tmp_path / "mlruns" / "unsent" / "other" / "operations.jsonl").is_file()


def test_writes_return_at_once_and_are_saved_when_no_server_answers(tmp_path):
    client = BufferedClient(mlflow.MlflowClient(f"http://127.0.0.1:{free_port()}"), tmp_path / "unsent")
    (tmp_path / "notes.txt").write_text("kept")
    started = time.monotonic()
    client.log_batch("run1", metrics=[Metric("train/loss", 0.5, 1000, step) for step in range(3)])
    client.log_image("run1", np.zeros((8, 8, 3), np.uint8), key="val/grid", step=0)
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


def test_a_flush_under_way_is_not_cut_by_its_deadline(tmp_path):
    store = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = store.create_run(store.create_experiment("deadline")).info.run_id
    client = BufferedClient(store, tmp_path / "unsent")
    for step in range(40):
        client.log_metric(run_id, "train/loss", 1.0 / (step + 1), step=step)

    assert client.flush(timeout=0.0) is None  # the store answers, so the deadline does not stop delivery

    assert [m.step for m in store.get_metric_history(run_id, "train/loss")] == list(range(40))
    assert not (tmp_path / "unsent").exists()
