"""Atomic checkpoint writes under real SIGKILLs, and weights-only checkpoint loading."""

import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pseudocolor.lightning_modules.training.checkpoint_io import AtomicCheckpointIO, atomic_torch_save
from tests.conftest import PickledCode

REPO = Path(__file__).resolve().parents[2]
ELEMENTS = 4_000_000  # 16 MB per save: a kill usually lands mid-write
WRITER = f"""
import sys, torch
from pseudocolor.lightning_modules.training.checkpoint_io import atomic_torch_save
version = int(sys.argv[2])
print("writing", flush=True)
while True:
    version += 1
    atomic_torch_save({{"version": version, "weights": torch.full(({ELEMENTS},), float(version))}}, sys.argv[1])
"""


def checkpoint(version: int) -> dict:
    return {"version": version, "weights": torch.full((ELEMENTS,), float(version))}


def assert_whole(path: Path) -> int:
    """The file is a complete checkpoint of one version; returns the version."""
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["weights"], torch.full((ELEMENTS,), float(loaded["version"])))
    return loaded["version"]


@pytest.mark.slow
def test_a_kill_during_saving_leaves_a_whole_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    atomic_torch_save(checkpoint(0), path)
    rng = random.Random(0)
    versions = [0]
    for _ in range(4):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(versions[-1])],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True,
        )
        assert writer.stdout.readline().strip() == "writing"
        time.sleep(rng.uniform(0.2, 0.8))
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        versions.append(assert_whole(path))
    assert versions[-1] > 0, "the writer never finished a save; the test proves nothing"


def test_a_failed_save_keeps_the_previous_file_and_no_partial_one(tmp_path):
    path = tmp_path / "last.ckpt"
    atomic_torch_save(checkpoint(1), path)
    with pytest.raises(RuntimeError, match="cannot be saved"):
        atomic_torch_save({"weights": torch.zeros(3), "broken": FailsToPickle()}, path)
    assert assert_whole(path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_checkpoint_io_loads_weights_only(tmp_path):
    marker = tmp_path / "code_ran"
    torch.save({"state_dict": {}, "payload": PickledCode(str(marker))}, tmp_path / "evil.ckpt")
    with pytest.raises(pickle.UnpicklingError):
        AtomicCheckpointIO().load_checkpoint(tmp_path / "evil.ckpt", weights_only=False)
    assert not marker.exists()
    AtomicCheckpointIO().save_checkpoint(checkpoint(2), tmp_path / "good.ckpt")
    assert AtomicCheckpointIO().load_checkpoint(tmp_path / "good.ckpt")["version"] == 2


class FailsToPickle:
    def __reduce__(self):
        raise RuntimeError("this object cannot be saved")
