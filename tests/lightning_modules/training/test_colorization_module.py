from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer
from torchvision.transforms import v2

from pseudocolor.datamodules.color_space import grey_lab, lab_to_rgb, rgb_to_lab
from pseudocolor.datamodules.decoding import decode_image
from pseudocolor.datamodules.folder_datamodule import FolderDataModule
from pseudocolor.lightning_modules.networks.residual_caffenet import ResidualCaffeNet
from pseudocolor.lightning_modules.training.colorization_module import ColorizationModule

SAMPLES = sorted((Path(__file__).resolve().parents[3] / "datamodules" / "samples").glob("*.jpg"))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean per-image PSNR (dB) of (B, 3, H, W) images in [0, 1]."""
    return (10 * torch.log10(1 / (a - b).square().mean(dim=(1, 2, 3)))).mean().item()


def photo_batch(count: int, size: int) -> dict:
    resize = v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size)])
    rgb = torch.stack([resize(decode_image(path)) for path in SAMPLES[:count]]).float() / 255
    return {"rgb": rgb, "lab": rgb_to_lab(rgb)}


def test_tiny_overfit_on_four_photos_beats_the_colourless_baseline():
    torch.manual_seed(0)
    module = ColorizationModule(ResidualCaffeNet(width_multiplier=0.25), ce_weight=1.0, l1_weight=1.0)
    batch = photo_batch(4, 64)
    optimizer = torch.optim.AdamW(module.parameters(), lr=3e-3)
    module.train()
    for _ in range(150):
        optimizer.zero_grad()
        module._step(batch, "train")["loss"].backward()
        optimizer.step()
    module.eval()
    with torch.no_grad():
        predicted = module._step(batch, "val")["rgb_pred"]
    baseline = lab_to_rgb(grey_lab(batch["lab"][:, :1]))
    assert psnr(predicted, batch["rgb"]) > psnr(baseline, batch["rgb"]) + 1.0


def test_forward_predicts_ab_at_a_quarter_of_the_input():
    module = ColorizationModule(ResidualCaffeNet(width_multiplier=0.25)).eval()
    ab = module(torch.rand(2, 1, 64, 48) * 100)
    assert ab.shape == (2, 2, 16, 12)


class _Samples:
    def ab_samples(self, num_images):
        yield photo_batch(4, 32)["lab"][:, 1:]


def test_prior_is_estimated_from_the_data_once(monkeypatch):
    module = ColorizationModule(ResidualCaffeNet(width_multiplier=0.25))
    monkeypatch.setattr(ColorizationModule, "trainer", property(lambda self: type("T", (), {"datamodule": _Samples()})))
    module.on_fit_start()
    torch.testing.assert_close(module.ab_prior.sum(), torch.tensor(1.0))
    assert module.class_weights.max() > module.class_weights.min()
    before = module.class_weights.clone()
    module.on_fit_start()  # restored or already estimated: unchanged
    assert torch.equal(before, module.class_weights)


def test_non_finite_loss_stops_training_with_a_clear_message(monkeypatch):
    module = ColorizationModule(ResidualCaffeNet(width_multiplier=0.25))
    batch = photo_batch(2, 32)
    monkeypatch.setattr(module, "_step", lambda batch, stage: {"loss": torch.tensor(float("nan"))})
    with pytest.raises(FloatingPointError, match="learning rate"):
        module.training_step(batch, 0)


class NaNOnSecondBatch(ResidualCaffeNet):
    """A real network whose second training forward pass returns NaN logits (as after a bad batch)."""

    def forward(self, *args, **kwargs):
        logits = super().forward(*args, **kwargs)
        if self.training:
            self.training_calls = getattr(self, "training_calls", 0) + 1
            if self.training_calls == 2:
                return logits * float("nan")
        return logits


def fit_four_steps(module: ColorizationModule) -> Trainer:
    trainer = Trainer(max_epochs=1, limit_train_batches=4, limit_val_batches=0, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, FolderDataModule(batch_size=2, crop_size=32, eval_size=32, num_workers=0))
    return trainer


def test_nonfinite_loss_stops_a_real_fit_by_default():
    module = ColorizationModule(NaNOnSecondBatch(width_multiplier=0.25), prior_images=8)
    with pytest.raises(FloatingPointError, match="at step 1.*nonfinite_loss=skip"):
        fit_four_steps(module)


def test_nonfinite_loss_skip_drops_only_that_batch():
    torch.manual_seed(0)
    module = ColorizationModule(NaNOnSecondBatch(width_multiplier=0.25), prior_images=8, nonfinite_loss="skip")
    fit_four_steps(module)
    assert module.nonfinite_skipped == 1
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_empty_batches_are_skipped():
    module = ColorizationModule(ResidualCaffeNet(width_multiplier=0.25))
    empty = {"lab": torch.zeros(0, 3, 32, 32), "rgb": torch.zeros(0, 3, 32, 32)}
    assert module.training_step(empty, 0) is None
