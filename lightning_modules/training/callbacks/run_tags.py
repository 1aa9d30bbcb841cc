"""Tags a fit's MLflow run with what produced it: the code's commit and version, device, precision, world size."""

from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from lightning.pytorch import Callback
from lightning.pytorch.loggers import MLFlowLogger
from mlflow.entities import RunTag
from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT

GIT_TIMEOUT_S = 10.0


def git_state(folder: Path | None = None) -> dict[str, str]:
    """{"commit": HEAD's hash, "dirty": "true"/"false" (tracked files changed)} of the git checkout holding `folder`
    (default: the working directory); {} when it is none, or git is missing or too slow."""
    folder = Path.cwd() if folder is None else folder

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        changes = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": commit, "dirty": str(bool(changes)).lower()}


def device_name(device: torch.device) -> str:
    """'cpu', 'mps', or 'cuda:<GPU model>' (e.g. 'cuda:NVIDIA H200')."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def package_version() -> str | None:
    try:
        return version("pseudocolor")
    except PackageNotFoundError:
        return None


class RunTags(Callback):
    """At fit start, on rank 0, tags the MLflow run with `mlflow.source.git.commit` (the commit of the working
    directory's git checkout, shown by MLflow's UI as the run's source) and `git.dirty` (skipped outside a
    checkout), `pseudocolor.version`, `device` (the accelerator actually used), `precision` and `world_size`.
    A resumed run gets the resuming fit's values."""

    def on_fit_start(self, trainer, pl_module) -> None:
        logger = trainer.logger
        if not trainer.is_global_zero or not isinstance(logger, MLFlowLogger):
            return
        tags = {
            "device": device_name(trainer.strategy.root_device),
            "precision": str(trainer.precision),
            "world_size": str(trainer.world_size),
        }
        if (package := package_version()) is not None:
            tags["pseudocolor.version"] = package
        if git := git_state():
            tags[MLFLOW_GIT_COMMIT], tags["git.dirty"] = git["commit"], git["dirty"]
        logger.experiment.log_batch(logger.run_id, tags=[RunTag(key, value) for key, value in tags.items()])
