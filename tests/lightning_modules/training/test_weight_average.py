"""WeightAverage: an EMA of the network's weights that validation and checkpoints see, and resume undoes."""

import pytest
import torch
from lightning.pytorch import Callback, Trainer

from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.datamodules.folder_datamodule import FolderDataModule
from pseudocolor.lightning_modules.networks.residual_caffenet import ResidualCaffeNet
from pseudocolor.lightning_modules.training.callbacks import WeightAverage
from pseudocolor.lightning_modules.training.colorization_module import ColorizationModule


class ValidationWeights(Callback):
    """Records the network's weights at the first validation batch of each (non-sanity) validation."""

    def __init__(self) -> None:
        self.seen = []

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0 and not trainer.sanity_checking:
            self.seen.append({k: v.clone() for k, v in pl_module.network.state_dict().items()})


def _fit(tmp_path, steps: int, average: WeightAverage, ckpt_path=None, extra=()):
    torch.manual_seed(0)
    module = ColorizationModule(ResidualCaffeNet(width_multiplier=0.25), prior_images=8)
    trainer = Trainer(max_steps=steps, limit_val_batches=1, num_sanity_val_steps=0, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, callbacks=[average, *extra],
                      default_root_dir=tmp_path, val_check_interval=1, check_val_every_n_epoch=None)
    initial = {k: v.clone() for k, v in module.network.state_dict().items()}
    trainer.fit(module, FolderDataModule(batch_size=2, crop_size=32, eval_size=32, num_workers=0), ckpt_path=ckpt_path)
    return trainer, module, initial


def test_one_step_average_validation_checkpoint_and_resume(tmp_path):
    validation = ValidationWeights()
    trainer, module, initial = _fit(tmp_path, 1, WeightAverage(decay=0.75), extra=[validation])
    raw = module.network.state_dict()
    name = next(name for name, _ in module.network.named_parameters())
    expected = 0.75 * initial[name] + 0.25 * raw[name]
    assert not torch.equal(raw[name], initial[name])  # the step changed the weights
    torch.testing.assert_close(validation.seen[0][name], expected)  # validation ran on the average
    assert torch.equal(module.network.state_dict()[name], raw[name])  # and training went on with the raw ones

    path = tmp_path / "one.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=False)
    torch.testing.assert_close(checkpoint["state_dict"]["network." + name], expected)
    (state,) = [value for key, value in checkpoint["callbacks"].items() if "WeightAverage" in key]
    assert torch.equal(state["raw"][name], raw[name])

    resumed = ValidationWeights()
    _, module, _ = _fit(tmp_path, 2, WeightAverage(decay=0.75), ckpt_path=path, extra=[resumed])
    # step 2 started from the raw weights (not the average) and averaged on from the saved average
    assert not torch.equal(module.network.state_dict()[name], raw[name])
    second = 0.75 * expected + 0.25 * module.network.state_dict()[name]
    torch.testing.assert_close(resumed.seen[0][name], second)


def test_decay_outside_0_1_is_refused():
    with pytest.raises(PseudocolorError, match="decay must be in"):
        WeightAverage(decay=1.0)
