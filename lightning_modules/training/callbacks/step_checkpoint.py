"""`last.ckpt` every N training steps, so a run killed in a long epoch loses at most N steps."""

from __future__ import annotations

from lightning.pytorch.callbacks import ModelCheckpoint

from pseudocolor.datamodules.errors import PseudocolorError


class StepCheckpoint(ModelCheckpoint):
    """Overwrites `last.ckpt` (in the same folder as the epoch checkpoints) every `every_n_train_steps`
    optimizer steps; 0 turns it off. Keeps no other files: the best checkpoints stay the epoch callback's."""

    def __init__(self, every_n_train_steps: int = 0, dirpath: str | None = None) -> None:
        if every_n_train_steps < 0:
            raise PseudocolorError(f"every_n_train_steps must be >= 0 (0: no step checkpoints), got {every_n_train_steps}")
        super().__init__(
            dirpath=dirpath,
            every_n_train_steps=every_n_train_steps,
            every_n_epochs=0,
            save_top_k=0,
            save_last=True,
            enable_version_counter=False,
        )

    def on_train_end(self, trainer, pl_module) -> None:
        """No save of its own at the end: the epoch callback has written `last.ckpt` after the final validation,
        and the last callback to save is the one whose best checkpoints MLflowLogger uploads."""
