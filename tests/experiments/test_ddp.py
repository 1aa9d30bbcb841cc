"""A real 2-process DDP fit (gloo, CPU) against a 1-process fit with the same global batch (2 x 2 vs 1 x 4).

Both runs start together; the 1-process run is DDP with world size 1, so it draws the same
DistributedSampler order. Same seed and files, SGD, deterministic batches (`augment=false`: center
crops of 64 px, no flips) and BatchNorm statistics over the global batch, so both runs compute the
same losses and gradients and differ only by float32 summation order. torch's SyncBatchNorm refuses
CPU modules under DDP, so both runs swap in ddp_run.CpuSyncBatchNorm2d (the same maths over a gloo
all-reduce) with `trainer.sync_batchnorm=false`; on GPUs ddp.yaml's `sync_batchnorm: true` does it.
Lightning re-launches rank 1 as `python -m tests.experiments.ddp_run`, never as pytest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import torch

from pseudocolor.experiments.lightning_cli import CONFIG_DIR
from tests.conftest import write_photo

REPO = Path(__file__).resolve().parents[2]
NUM_PHOTOS = 20  # 16 train + 4 val (val_fraction 0.2)
GLOBAL_BATCH = 4
EPOCHS = 2
# Only float32 summation order differs (per-rank sums all-reduced vs one sum). The runs use SGD: Adam's
# first steps move every weight by about +-lr whatever its gradient's size, so a gradient that is zero up
# to rounding (conv biases before BatchNorm) gets a step of random sign and final weights differ by ~8 lr.
ATOL, RTOL = 1e-4, 1e-4
METRICS = ("train/loss", "val/loss", "val/psnr", "val/ssim", "val/gray_psnr")


def start_fit(tmp_path: Path, name: str, devices: int, photos: Path) -> tuple[subprocess.Popen, Path, str]:
    """Start the CLI in a subprocess with `devices` CPU processes -> (process, recorder folder, tracking URI)."""
    out, uri = tmp_path / name, f"sqlite:///{tmp_path / name / 'mlruns' / 'mlflow.db'}"
    args = [
        "fit", "--config", str(CONFIG_DIR / "ddp.yaml"),
        "--trainer.accelerator", "cpu", "--trainer.devices", str(devices), "--trainer.max_epochs", str(EPOCHS),
        "--trainer.default_root_dir", str(out / "checkpoints"), "--trainer.enable_progress_bar", "false",
        "--trainer.num_sanity_val_steps", "0", "--trainer.sync_batchnorm", "false",
        "--trainer.callbacks+=tests.experiments.ddp_run.UseCpuSyncBatchNorm",
        "--trainer.callbacks+=tests.experiments.ddp_run.RunRecorder", "--trainer.callbacks.out_dir", str(out),
        # No hint inputs: with the global-hint bias always active, float-order noise between 2 ranks and 1
        # process grew to 0.03 in train/loss by step 8 (chaotic amplification, not a DDP difference).
        "--model.network.init_args.width_multiplier", "0.25", "--model.network.init_args.hints", "false",
        "--model.prior_images", "16",
        "--model.optimizer", "torch.optim.SGD", "--model.optimizer.lr", "0.002", "--model.optimizer.momentum", "0.9",
        "--data.init_args.root", str(photos), "--data.init_args.batch_size", str(GLOBAL_BATCH // devices),
        "--data.init_args.augment", "false", "--data.init_args.crop_size", "64", "--data.init_args.eval_size", "64",
        "--data.init_args.num_workers", "0",
    ]
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.experiments.ddp_run", *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    return process, out, uri


def finish(process: subprocess.Popen) -> None:
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-6000:]


def metric_histories(uri: str) -> tuple[str, dict[str, list[tuple[int, float]]]]:
    """The one run in the store -> (run id, {metric: [(step, value), ...] sorted by step})."""
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("pseudocolor")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1, f"expected exactly one MLflow run, found {len(runs)}"
    run_id = runs[0].info.run_id
    return run_id, {
        name: sorted((m.step, m.value) for m in client.get_metric_history(run_id, name)) for name in METRICS
    }


@pytest.mark.slow
def test_two_process_ddp_matches_one_process_with_the_same_global_batch(tmp_path):
    photos = tmp_path / "photos"
    for i in range(NUM_PHOTOS):
        write_photo(photos / f"{i:02d}.jpg", 64, 64, seed=i)
    ddp, ddp_out, ddp_uri = start_fit(tmp_path, "ddp", devices=2, photos=photos)
    single, one_out, one_uri = start_fit(tmp_path, "single", devices=1, photos=photos)
    finish(ddp)
    finish(single)

    ddp_run_id, ddp_metrics = metric_histories(ddp_uri)
    _, one_metrics = metric_histories(one_uri)
    for name in METRICS:
        steps = [step for step, _ in ddp_metrics[name]]
        assert len(steps) == len(set(steps)), f"{name} logged twice at a step: {steps}"
        assert steps == [step for step, _ in one_metrics[name]], name
        values, expected = (torch.tensor([v for _, v in h[name]]) for h in (ddp_metrics, one_metrics))
        torch.testing.assert_close(values, expected, atol=ATOL, rtol=RTOL, msg=name)
    assert len(ddp_metrics["train/loss"]) == EPOCHS * (NUM_PHOTOS - 4) // GLOBAL_BATCH
    assert len(ddp_metrics["val/psnr"]) == EPOCHS

    ddp_weights, one_weights = (torch.load(out / "weights.pt") for out in (ddp_out, one_out))
    assert ddp_weights.keys() == one_weights.keys()
    for key, value in ddp_weights.items():
        torch.testing.assert_close(value, one_weights[key], atol=ATOL, rtol=RTOL, msg=key)

    for rank in (0, 1):  # every rank knows the run id, on the module and on the logger
        run_ids = json.loads((ddp_out / f"run_id_r{rank}.json").read_text())
        assert run_ids == {"module": ddp_run_id, "logger": ddp_run_id}

    orders = {(r, e): json.loads((ddp_out / f"order_r{r}_e{e}.json").read_text()) for r in (0, 1) for e in (0, 1)}
    for epoch in (0, 1):  # the ranks split each epoch's files between them
        assert not set(orders[0, epoch]) & set(orders[1, epoch])
        assert len(orders[0, epoch]) + len(orders[1, epoch]) == NUM_PHOTOS - 4
    for rank in (0, 1):  # and reshuffle them every epoch
        assert orders[rank, 0] != orders[rank, 1]
    for epoch in (0, 1):  # the 1-process run sees the union of the ranks' global batches, in the same order
        single = json.loads((one_out / f"order_r0_e{epoch}.json").read_text())
        for step in range(len(single) // GLOBAL_BATCH):
            ddp_batch = orders[0, epoch][2 * step : 2 * step + 2] + orders[1, epoch][2 * step : 2 * step + 2]
            assert sorted(ddp_batch) == sorted(single[GLOBAL_BATCH * step : GLOBAL_BATCH * (step + 1)])
