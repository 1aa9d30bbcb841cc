import torch
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel

from pseudocolor.lightning_modules.training.callbacks import BestAndLastCheckpoint


class WorseEveryEpoch(BoringModel):
    """val/psnr falls every epoch, so the best checkpoint is the first epoch's."""

    def on_validation_epoch_end(self) -> None:
        self.log("val/psnr", 30.0 - self.current_epoch)


def test_last_checkpoint_is_the_final_epoch_not_the_best(tmp_path):
    callback = BestAndLastCheckpoint(
        dirpath=tmp_path, monitor="val/psnr", mode="max", save_last=True, filename="best-{epoch:03d}",
        enable_version_counter=False,
    )
    trainer = Trainer(
        max_epochs=4, limit_train_batches=2, limit_val_batches=1, callbacks=[callback], logger=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )
    trainer.fit(WorseEveryEpoch())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best-epoch=000.ckpt", "last.ckpt"]
    last = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert (last["epoch"], last["global_step"]) == (3, 8)
    assert torch.load(tmp_path / "best-epoch=000.ckpt", weights_only=False)["global_step"] == 2


def test_last_checkpoint_follows_a_resume_and_a_stop_inside_an_epoch(tmp_path):
    def fit(**limits) -> Trainer:
        callback = BestAndLastCheckpoint(
            dirpath=tmp_path, monitor="val/psnr", mode="max", save_last=True, filename="best-{epoch:03d}",
            enable_version_counter=False,
        )
        trainer = Trainer(
            limit_train_batches=4, limit_val_batches=1, callbacks=[callback], logger=False, enable_progress_bar=False,
            enable_model_summary=False, num_sanity_val_steps=0, **limits,
        )
        trainer.fit(WorseEveryEpoch(), ckpt_path="last" if (tmp_path / "last.ckpt").exists() else None)
        return trainer

    first = fit(max_epochs=2)
    resumed = fit(max_epochs=3)
    last = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert (first.global_step, resumed.global_step) == (8, 12)
    assert (last["epoch"], last["global_step"]) == (resumed.current_epoch - 1, resumed.global_step) == (2, 12)

    stopped = fit(max_steps=14, max_epochs=5)  # stops two batches into epoch 3, before its validation
    last = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert stopped.global_step == last["global_step"] == 14
