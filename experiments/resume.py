"""What `pseudocolor fit --ckpt_path last` (or `--resume`) continues: the newest last checkpoint of the
experiment, and the MLflow run that wrote it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.lightning_modules.inference.weights import ModelLoadError, load_weights_only
from pseudocolor.lightning_modules.training.callbacks.run_id import RUN_ID_KEY

LAST_CHECKPOINT_PATTERN = "last*.ckpt"


class ResumeError(PseudocolorError):
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
        checkpoint = load_weights_only(path, "checkpoint")
    except ModelLoadError as error:
        raise ResumeError(str(error)) from None
    return checkpoint.get(RUN_ID_KEY)
