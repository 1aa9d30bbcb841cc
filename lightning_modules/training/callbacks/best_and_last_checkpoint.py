"""The epoch checkpoints: the best ones by the monitored metric, and `last.ckpt` at every epoch's save point."""

from __future__ import annotations

from weakref import proxy

from lightning.pytorch.callbacks import ModelCheckpoint

from pseudocolor.lightning_modules.training.checkpoint_io import AtomicCheckpointIO, atomic_link


class BestAndLastCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose `last.ckpt` is always the latest state at its save point (validation or epoch end).

    Lightning 2.6 writes `last.ckpt` only when a top-k checkpoint was saved in the same step, so after the best epoch
    it stops moving: a 20-epoch run whose best was epoch 6 ended with last.ckpt at epoch 6, and `--ckpt_path last`
    went back in time. This callback writes it every time as well (same arguments as ModelCheckpoint).

    When a top-k checkpoint was saved in the same step, `last.ckpt` holds the same state: it becomes a hard link to
    that file (one copy on disk; the MLflow logger then uploads it once) where the trainer's checkpoint IO is
    AtomicCheckpointIO, whose saves replace files rather than write into them, so overwriting either name later
    leaves the other intact. Elsewhere, or where the filesystem has no hard links, it is written in full.

    Private Lightning methods and attributes, since no public API saves just the "last" file;
    tests/test_private_apis.py watches them.
    """

    def on_validation_end(self, trainer, pl_module) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_not_saved(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_not_saved(trainer)

    def _save_last_if_not_saved(self, trainer) -> None:
        """After the top-k save of this point: write last.ckpt unless that save already did (same global step)."""
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        """Lightning's save, except for `last.ckpt` right after a top-k save of the same step: a hard link to it."""
        source = self._last_checkpoint_saved  # the file this callback saved last, at `_last_global_step_saved`
        same_state = self._last_global_step_saved == trainer.global_step and source and source != filepath
        if filepath == self.last_model_path and same_state and self._link_last(trainer, source, filepath):
            self._last_checkpoint_saved = filepath
            if trainer.is_global_zero:
                for logger in trainer.loggers:
                    logger.after_save_checkpoint(proxy(self))
            return
        super()._save_checkpoint(trainer, filepath)

    @staticmethod
    def _link_last(trainer, source: str, filepath: str) -> bool:
        """On rank 0, hard-link `filepath` to `source` where that is safe; every rank learns whether it was done."""
        linked = False
        replaces_files = isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO) and "://" not in str(filepath)
        if trainer.is_global_zero and replaces_files:
            try:
                atomic_link(source, filepath)
                linked = True
            except OSError:
                linked = False  # no hard links here: write it in full
        return trainer.strategy.broadcast(linked, src=0)
