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
