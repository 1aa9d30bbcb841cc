"""The epoch checkpoints: the best ones by the monitored metric, and `last.ckpt` at every epoch's save point."""

from __future__ import annotations

from lightning.pytorch.callbacks import ModelCheckpoint


class BestAndLastCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose `last.ckpt` is always the latest state at its save point (validation or epoch end).

    Lightning 2.6 writes `last.ckpt` only when a top-k checkpoint was saved in the same step, so after the best epoch
    it stops moving: a 20-epoch run whose best was epoch 6 ended with last.ckpt at epoch 6, and `--ckpt_path last`
    went back in time. This callback writes it every time as well (same arguments as ModelCheckpoint).
    Private Lightning methods, since no public API saves just the "last" file; tests/test_private_apis.py watches them.
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
