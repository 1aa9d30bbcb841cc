"""What `pseudocolor fit --ckpt_path last` (or `--resume`) continues: the newest last checkpoint of the
experiment, and the MLflow run that wrote it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from lightning_modules.callbacks.run_id import RUN_ID_KEY

LAST_CHECKPOINT_PATTERN = "last*.ckpt"


class ResumeError(Exception):
    """No checkpoint to resume from, or one that cannot be read; the message says what to do."""


def checkpoint_folders(root_dir: str | Path, experiment_id: str | None, dirpath: str | Path | None) -> list[Path]:
    """The folders that hold a run's checkpoints: `dirpath` when the config sets one, else every
    `<root_dir>/<experiment id>/<run id>/checkpoints` (where Lightning puts them for an MLflow run)."""
    if dirpath is not None:
        return [Path(dirpath)]
    if experiment_id is None:
        return []
    return sorted(Path(root_dir, experiment_id).glob("*/checkpoints"))


def newest_last_checkpoint(folders: Iterable[Path]) -> Path | None:
    """The most recently written `last.ckpt` in `folders`, or None."""
    candidates = [path for folder in folders for path in folder.glob(LAST_CHECKPOINT_PATTERN) if path.is_file()]
    return max(candidates, key=lambda path: path.stat().st_mtime, default=None)


def checkpoint_run_id(path: str | Path) -> str | None:
    """The MLflow run id stored in a Lightning checkpoint by ShareMLflowRunId (None if it has none).
    Read with weights_only=True: no pickled code runs."""
    path = Path(path)
    if not path.is_file():
        raise ResumeError(f"checkpoint {path} does not exist; pass an existing .ckpt file or --ckpt_path last")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # torch raises many kinds for a damaged, foreign or pickled-code file
        raise ResumeError(
            f"{path} is not a readable Lightning checkpoint ({type(error).__name__}: damaged, or it holds pickled "
            "code, which is never loaded); pass another .ckpt file"
        ) from error
    return checkpoint.get(RUN_ID_KEY)
