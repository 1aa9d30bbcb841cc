"""`last.ckpt` saved in the same step as the best checkpoint is a hard link to it (one copy on disk) when the
checkpoint IO replaces files; later saves of either name leave the other intact, and resuming from it works."""

import os

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel

from pseudocolor.lightning_modules.training.callbacks import BestAndLastCheckpoint
from pseudocolor.lightning_modules.training.checkpoint_io import AtomicCheckpointIO


class ScoredByEpoch(BoringModel):
    """val/psnr = 30 + sign * epoch: rising (every epoch best) or falling (the first epoch best)."""

    def __init__(self, sign: float) -> None:
        super().__init__()
        self.sign = sign

    def on_validation_epoch_end(self) -> None:
        self.log("val/psnr", 30.0 + self.sign * self.current_epoch)


def fit(folder, sign: float, max_epochs: int, atomic: bool = True, ckpt_path=None) -> Trainer:
    callback = BestAndLastCheckpoint(
        dirpath=folder, monitor="val/psnr", mode="max", save_last=True, filename="best-{epoch:03d}",
        enable_version_counter=False,
    )
    trainer = Trainer(
        max_epochs=max_epochs, limit_train_batches=2, limit_val_batches=1, callbacks=[callback], logger=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        plugins=[AtomicCheckpointIO()] if atomic else None,
    )
    trainer.fit(ScoredByEpoch(sign), ckpt_path=ckpt_path)
    return trainer


def step(path) -> int:
    return torch.load(path, weights_only=False)["global_step"]


def test_last_is_the_best_file_itself_when_the_final_epoch_is_best(tmp_path):
    fit(tmp_path, sign=+1, max_epochs=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best-epoch=002.ckpt", "last.ckpt"]
    assert os.path.samefile(tmp_path / "last.ckpt", tmp_path / "best-epoch=002.ckpt")
    assert step(tmp_path / "last.ckpt") == 6


def test_a_later_last_checkpoint_leaves_the_best_one_intact(tmp_path):
    fit(tmp_path, sign=-1, max_epochs=3)  # epoch 0 best: last linked to it, then replaced twice
    assert not os.path.samefile(tmp_path / "last.ckpt", tmp_path / "best-epoch=000.ckpt")
    assert (step(tmp_path / "best-epoch=000.ckpt"), step(tmp_path / "last.ckpt")) == (2, 6)
    assert os.stat(tmp_path / "best-epoch=000.ckpt").st_nlink == 1


def test_resuming_from_a_linked_last_checkpoint_continues_and_unlinks_it(tmp_path):
    fit(tmp_path, sign=+1, max_epochs=2)
    assert os.path.samefile(tmp_path / "last.ckpt", tmp_path / "best-epoch=001.ckpt")
    resumed = fit(tmp_path, sign=-1, max_epochs=3, ckpt_path=str(tmp_path / "last.ckpt"))  # epoch 2 is worse
    assert resumed.global_step == 6 and step(tmp_path / "last.ckpt") == 6
    assert step(tmp_path / "best-epoch=001.ckpt") == 4
    assert not os.path.samefile(tmp_path / "last.ckpt", tmp_path / "best-epoch=001.ckpt")


def test_without_atomic_saves_last_is_a_file_of_its_own(tmp_path):
    fit(tmp_path, sign=+1, max_epochs=2, atomic=False)  # a save could write into the file: no shared files
    assert not os.path.samefile(tmp_path / "last.ckpt", tmp_path / "best-epoch=001.ckpt")
    assert step(tmp_path / "last.ckpt") == step(tmp_path / "best-epoch=001.ckpt") == 4
