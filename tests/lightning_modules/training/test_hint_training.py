"""The hint sampler inside training: wiring, the shipped config, and hints that pay off on held-out photos."""

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch import Trainer, seed_everything
from torch.utils.data import DataLoader, Dataset
from torchmetrics.functional.image import peak_signal_noise_ratio

from pseudocolor.datamodules.color_space import ab_to_rgb, rgb_to_lab
from pseudocolor.datamodules.decoding import decode_image, list_images
from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.datamodules.folder_datamodule import FolderDataModule
from pseudocolor.datamodules.sample_photos import SAMPLES_DIR
from pseudocolor.experiments.lightning_cli import CONFIG_DIR, PseudocolorCLI
from pseudocolor.lightning_modules.guided.hint_sampler import HintSampler
from pseudocolor.lightning_modules.inference.prediction import predict_ab
from pseudocolor.lightning_modules.networks.residual_caffenet import ResidualCaffeNet
from pseudocolor.lightning_modules.training.colorization_module import ColorizationModule

CURVE_SIDE, CURVE_CROP, CURVE_STEPS, CURVE_HELD_OUT = 96, 64, 300, 6


class CountingSampler(HintSampler):
    def __init__(self) -> None:
        super().__init__(p_none=0.0)
        self.local_hint_pixels = []

    def __call__(self, lab, bins, generator=None):
        hints = super().__call__(lab, bins, generator)
        self.local_hint_pixels.append(int(hints["local_hints"][:, 2].sum()))
        return hints


def test_a_sampler_needs_a_network_that_takes_hints():
    with pytest.raises(PseudocolorError, match="hint_sampler needs a network that takes hints"):
        ColorizationModule(ResidualCaffeNet(width_multiplier=0.25, hints=False), hint_sampler=HintSampler())


def test_a_missing_global_hint_is_the_all_zero_hint():
    network = ResidualCaffeNet(width_multiplier=0.25).eval()
    l = torch.rand(2, 1, 32, 32) * 2 - 1
    zeros = torch.zeros(2, network.num_bins + 1)
    torch.testing.assert_close(network(l), network(l, None, zeros))


def test_training_batches_get_hints_and_validation_logs_automatic_and_hinted_psnr(tmp_path):
    sampler = CountingSampler()
    module = ColorizationModule(ResidualCaffeNet(width_multiplier=0.25), hint_sampler=sampler, prior_images=4, val_hint_points=10)
    data = FolderDataModule(batch_size=4, crop_size=32, eval_size=32, num_workers=0)
    trainer = Trainer(fast_dev_run=2, accelerator="cpu", default_root_dir=tmp_path, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, data)
    assert len(sampler.local_hint_pixels) == 2 and min(sampler.local_hint_pixels) > 0
    assert {"val/psnr", "val/gray_psnr", "val/psnr_hints10"} <= set(trainer.callback_metrics)


def test_the_shipped_hints_config_runs(tmp_path):
    PseudocolorCLI(
        args=[
            "fit",
            "--config", str(CONFIG_DIR / "hints.yaml"),
            "--trainer.fast_dev_run=1",
            "--trainer.logger=false",
            "--trainer.accelerator=cpu",
            f"--trainer.default_root_dir={tmp_path}",
            "--model.network.init_args.width_multiplier=0.25",
            "--data.init_args.num_workers=0",
            "--data.init_args.crop_size=32",
            "--data.init_args.eval_size=32",
        ]
    )


def _photos(files, side: int) -> torch.Tensor:
    """(N, 3, side, side) RGB in [0, 1], squashed like the SIGGRAPH17 protocol."""
    images = [decode_image(f)[None].float() / 255 for f in files]
    return torch.cat([F.interpolate(i, size=(side, side), mode="bilinear", antialias=True) for i in images]).clamp(0, 1)


class _RandomCrops(Dataset):
    """Seeded random crops (and flips) of in-memory photos, as {"rgb", "lab"} batches once collated."""

    def __init__(self, photos: torch.Tensor, crop: int) -> None:
        self.photos, self.crop = photos, crop

    def __len__(self) -> int:
        return 10**6

    def __getitem__(self, index: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(index)
        photo = self.photos[torch.randint(len(self.photos), (1,), generator=generator)][0]
        y, x = torch.randint(photo.shape[-1] - self.crop + 1, (2,), generator=generator).tolist()
        crop = photo[:, y : y + self.crop, x : x + self.crop]
        return crop.flip(-1) if torch.rand(1, generator=generator) < 0.5 else crop

    @staticmethod
    def collate(items: list[torch.Tensor]) -> dict:
        rgb = torch.stack(items)
        return {"rgb": rgb, "lab": rgb_to_lab(rgb)}


@pytest.mark.slow
def test_a_model_trained_briefly_with_hints_gains_psnr_from_0_to_10_to_100_hints(tmp_path):
    """18 bundled Kodak photos train a 0.25-width network for 300 steps; the other 6 are held out and
    coloured with 0, 10 and 100 ground-truth point hints (3 fixed seeds each)."""
    files = list_images(SAMPLES_DIR)
    train, held_out = _photos(files[:-CURVE_HELD_OUT], CURVE_SIDE), _photos(files[-CURVE_HELD_OUT:], CURVE_SIDE)
    seed_everything(0)
    sampler = HintSampler(p_none=0.2, p_geometric=0.02, max_patch=5, p_global=0.0)
    module = ColorizationModule(
        ResidualCaffeNet(width_multiplier=0.25),
        optimizer=partial(torch.optim.AdamW, lr=3e-3, weight_decay=1e-4),
        hint_sampler=sampler,
    )
    loader = DataLoader(_RandomCrops(train, CURVE_CROP), batch_size=16, collate_fn=_RandomCrops.collate)
    trainer = Trainer(
        max_steps=CURVE_STEPS, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )
    trainer.fit(module, loader)
    module.eval()
    lab = rgb_to_lab(held_out)
    psnr = {}
    with torch.no_grad():
        for count in (0, 10, 100):
            per_seed = []
            for seed in range(3):
                hints = sampler.points(lab, count, torch.Generator().manual_seed(seed))
                rgb = ab_to_rgb(lab[:, :1], predict_ab(module.network, lab[:, :1], hints, temperature=module.hparams.temperature))
                per_seed.append(peak_signal_noise_ratio(rgb, held_out, data_range=1.0, reduction="none", dim=(1, 2, 3)).mean())
            psnr[count] = torch.stack(per_seed).mean().item()
    assert psnr[100] > psnr[10] > psnr[0], psnr
