"""The training loader resumes the checkpointed epoch's order at its next unseen batch."""

from pathlib import Path

from lightning.pytorch import Callback, Trainer, seed_everything

from pseudocolor.datamodules.folder_datamodule import FolderDataModule
from pseudocolor.lightning_modules.networks.residual_caffenet import ResidualCaffeNet
from pseudocolor.lightning_modules.training.colorization_module import ColorizationModule


class FilesPerStep(Callback):
    def __init__(self) -> None:
        self.files: dict[int, list[str]] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.files[trainer.global_step] = [Path(path).name for path in batch["paths"]]


def fit(max_steps: int, ckpt_path: Path | None = None) -> tuple[Trainer, dict[int, list[str]]]:
    """Bundled photos (19 train), batch 4: 4 steps per epoch."""
    seed_everything(0)
    recorder = FilesPerStep()
    trainer = Trainer(max_steps=max_steps, limit_val_batches=0, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, callbacks=[recorder])
    module = ColorizationModule(ResidualCaffeNet(width_multiplier=0.25), prior_images=8)
    data = FolderDataModule(batch_size=4, crop_size=32, eval_size=32, num_workers=0, augment=False)
    trainer.fit(module, data, ckpt_path=ckpt_path)
    return trainer, recorder.files


def test_a_fit_stopped_by_max_steps_and_extended_trains_the_rest_of_its_epoch(tmp_path):
    stopped, first = fit(max_steps=3)
    stopped.save_checkpoint(tmp_path / "stopped.ckpt")  # Lightning records epoch 1 here, with 3 batches done
    _, extended = fit(max_steps=4, ckpt_path=tmp_path / "stopped.ckpt")
    _, uninterrupted = fit(max_steps=4)
    assert first == {step: uninterrupted[step] for step in range(3)}
    assert extended == {3: uninterrupted[3]}  # epoch 0's last batch, not a batch of another order
