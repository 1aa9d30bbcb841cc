"""Checkpoint files that are either the old or the new one, never half of one, and never run pickled code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO


def _fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """`torch.save` to a hidden file beside `path`, flushed to disk, then renamed over `path` in one step: a
    process killed at any moment leaves the previous file intact (and at worst a stray hidden file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(temporary, "wb") as file:
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def atomic_link(source: str | os.PathLike, path: str | os.PathLike) -> None:
    """Make `path` a hard link to the file `source` (one copy on disk), replacing `path` in one step like
    `atomic_torch_save`. Raises OSError where the filesystem has no hard links."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.link")
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_directory(path.parent)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO for local paths with atomic saves (Lightning's own writes a temporary file in
    /tmp and copies it over the checkpoint, which a kill can cut short) and weights-only loads, so resuming
    from a checkpoint never unpickles code. Remote URLs (s3://, ...) fall back to Lightning's handling.

    A local save replaces the file, never writes into it, so a checkpoint hard-linked to another (`last.ckpt` to
    the best one, see BestAndLastCheckpoint) can be overwritten without changing the other."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path, map_location=lambda storage, loc: storage, weights_only: bool | None = None):
        return super().load_checkpoint(path, map_location=map_location, weights_only=True)
