"""The LightningModule: the injected network, its losses, metrics and optimisation."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn
from torchmetrics import MetricCollection

from pseudocolor.datamodules.color_space import ab_to_rgb, grey_lab, lab_to_rgb, to_uint8
from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.lightning_modules.ab_encoding import (
    ANNEALED_TEMPERATURE,
    ab_histogram,
    annealed_mean,
    normalize_ab,
    normalize_l,
    rebalancing_weights,
)
from pseudocolor.lightning_modules.guided.hint_sampler import HintSampler
from pseudocolor.lightning_modules.inference.prediction import predict_ab
from pseudocolor.lightning_modules.metrics import METRICS, VALIDATION_METRICS, image_metrics
from pseudocolor.lightning_modules.networks import network_name
from pseudocolor.lightning_modules.networks.residual_caffenet import ResidualCaffeNet
from pseudocolor.lightning_modules.training.initial_weights import load_initial_weights
from pseudocolor.lightning_modules.training.losses import rebalanced_cross_entropy, smooth_l1_ab, ssim_loss

NONFINITE_LOSS_ACTIONS = ("stop", "skip")


def _default_optimizer(params) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4)


class ColorizationModule(LightningModule):
    """Trains a network that maps L (+ hints) to a distribution over ab bins.

    Batches are dicts from the datamodules: "lab" (B, 3, H, W) with L in [0, 100], "rgb" (B, 3, H, W)
    in [0, 1]. The loss is ce_weight * rebalanced CE + l1_weight * smooth-L1(ab) + ssim_weight * (1 - SSIM).

    Args:
        network: maps (B, 1, H, W) normalised L to (B, Q, H/4, W/4) logits; must have an `ab_bins` buffer.
        optimizer, scheduler: callables taking parameters / the optimizer (LightningCLI fills them).
        temperature: annealed-mean temperature used to decode colours.
        prior_images: training images used to estimate the ab bin prior at the start of fit.
        uniform_mix: weight of the uniform distribution mixed into the prior for rebalancing.
        hint_sampler: simulates local and global hints on training batches (the network must take
            hints); validation metrics stay automatic (no hints), so `val/psnr` remains comparable.
        val_hint_points: with a hint sampler, also log `val/psnr_hints{N}` with N ground-truth point
            hints per image (seeded by batch index, so identical every epoch), taken by the network alone
            (no `hint_spreading`); 0 turns it off.
        nonfinite_loss: "stop" raises on a NaN/Inf training loss; "skip" drops that batch (no update, on every
            DDP rank), counts it in `train/nonfinite_skipped` and stops only once the weights themselves are
            non-finite.
        channels_last: keep the network's weights, and give it its inputs, in channels_last memory format
            (faster convolutions on tensor-core GPUs, mostly with bf16).
        compile: `torch.compile` the network once (in `configure_model`), in place, so checkpoints keep the
            plain network's state_dict keys and load anywhere a plain one does.
        init_weights: a model spec (`pretrained`, a .ckpt or weights file, `models:/...`, `runs:/...`) whose
            network weights start the training (fine-tuning); its network must be built like `network`.
            A resumed checkpoint's weights replace them.
    """

    def __init__(
        self,
        network: nn.Module | None = None,
        optimizer: OptimizerCallable = _default_optimizer,
        scheduler: LRSchedulerCallable | None = None,
        ce_weight: float = 1.0,
        l1_weight: float = 1.0,
        ssim_weight: float = 0.0,
        temperature: float = ANNEALED_TEMPERATURE,
        prior_images: int = 256,
        uniform_mix: float = 0.5,
        hint_sampler: HintSampler | None = None,
        val_hint_points: int = 10,
        nonfinite_loss: Literal["stop", "skip"] = "stop",
        channels_last: bool = False,
        compile: bool = False,
        init_weights: str | None = None,
    ) -> None:
        super().__init__()
        if nonfinite_loss not in NONFINITE_LOSS_ACTIONS:
            raise PseudocolorError(f"nonfinite_loss must be one of {NONFINITE_LOSS_ACTIONS}, got {nonfinite_loss!r}")
        self.save_hyperparameters(ignore=["network", "optimizer", "scheduler", "hint_sampler"])
        self.network = network if network is not None else ResidualCaffeNet()
        if channels_last:
            self.network.to(memory_format=torch.channels_last)
        self.compiled = False
        self.initial_weights_loaded = False
        if hint_sampler is not None and not self.network.takes_hints:
            raise PseudocolorError("hint_sampler needs a network that takes hints (e.g. ResidualCaffeNet(hints=True))")
        self.hint_sampler = hint_sampler
        self.nonfinite_skipped = 0  # batches dropped by nonfinite_loss="skip"
        self.optimizer = optimizer
        self.scheduler = scheduler
        num_bins = self.network.ab_bins.shape[0]
        self.register_buffer("ab_prior", torch.zeros(num_bins))
        self.register_buffer("class_weights", torch.ones(num_bins))
        self.val_metrics = image_metrics(VALIDATION_METRICS).clone(prefix="val/")
        self.val_gray_metrics = image_metrics(("psnr", "ssim")).clone(prefix="val/gray_")
        self.test_metrics = image_metrics(VALIDATION_METRICS).clone(prefix="test/")
        self.val_hint_metrics = MetricCollection({f"psnr_hints{val_hint_points}": METRICS["psnr"]()}).clone(prefix="val/")

    def configure_model(self) -> None:
        """Once per process, however many times Lightning calls this: start from `init_weights` (unless a checkpoint
        is being resumed, whose weights win anyway), then compile the network (with `compile`)."""
        resuming = self._trainer is not None and self.trainer.ckpt_path is not None
        if self.hparams.init_weights is not None and not self.initial_weights_loaded and not resuming:
            load_initial_weights(self.network, self.hparams.init_weights)
            self.initial_weights_loaded = True
        if self.hparams.compile and not self.compiled:
            self.network.compile()
            self.compiled = True

    def _memory_format(self, tensor: torch.Tensor | None) -> torch.Tensor | None:
        """A (B, C, H, W) network input in channels_last memory format with `channels_last`, else unchanged."""
        if tensor is None or not self.hparams.channels_last:
            return tensor
        return tensor.contiguous(memory_format=torch.channels_last)

    def forward(
        self, l: torch.Tensor, local_hints: torch.Tensor | None = None, global_hint: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, 1, H, W) L in [0, 100] -> (B, 2, H/4, W/4) ab (inference)."""
        l, local_hints = self._memory_format(l), self._memory_format(local_hints)
        return predict_ab(self.network, l, local_hints, global_hint, self.hparams.temperature)

    # ---------------------------------------------------------------- prior
    def on_fit_start(self) -> None:
        if self.ab_prior.sum() > 0:  # restored from a checkpoint
            return
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is None or not hasattr(datamodule, "ab_samples"):
            return
        histogram = torch.zeros_like(self.ab_prior)
        for ab in datamodule.ab_samples(self.hparams.prior_images):
            histogram += ab_histogram(ab.to(self.device), self.network.ab_bins).sum(dim=0)
        if histogram.sum() > 0:
            self.ab_prior.copy_(histogram / histogram.sum())
            self.class_weights.copy_(rebalancing_weights(self.ab_prior, self.hparams.uniform_mix))

    # ---------------------------------------------------------------- steps
    def _step(self, batch: dict, stage: str) -> dict:
        lab = batch["lab"]
        l, ab = lab[:, :1], lab[:, 1:]
        network_input = self._memory_format(normalize_l(l)), self._memory_format(batch.get("local_hints"))
        logits = self.network(*network_input, batch.get("global_hint"))
        ab_target = F.interpolate(ab, size=logits.shape[-2:], mode="area")
        ab_pred = annealed_mean(logits, self.network.ab_bins, self.hparams.temperature)
        losses = {}
        if self.hparams.ce_weight:
            losses["ce"] = rebalanced_cross_entropy(logits, ab_target, self.network.ab_bins, self.class_weights)
        if self.hparams.l1_weight:
            losses["l1"] = smooth_l1_ab(normalize_ab(ab_pred), normalize_ab(ab_target))
        rgb_pred = None
        if self.hparams.ssim_weight or stage != "train":
            rgb_pred = ab_to_rgb(l.float(), ab_pred)
        if self.hparams.ssim_weight:
            losses["ssim"] = ssim_loss(rgb_pred, batch["rgb"])
        weights = {"ce": self.hparams.ce_weight, "l1": self.hparams.l1_weight, "ssim": self.hparams.ssim_weight}
        loss = sum(weights[name] * value for name, value in losses.items())
        batch_size = lab.shape[0]
        # Averaged over DDP ranks, so train/ logs the global batch's loss (a scalar all-reduce per step).
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=batch_size, sync_dist=True)
        for name, value in losses.items():
            self.log(f"{stage}/loss_{name}", value, batch_size=batch_size, sync_dist=True)
        return {"loss": loss, "rgb_pred": rgb_pred}

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor | None:
        if batch["lab"].shape[0] == 0:
            return None
        if self.hint_sampler is not None:
            batch = {**batch, **self.hint_sampler(batch["lab"], self.network.ab_bins)}
        loss = self._step(batch, "train")["loss"]
        finite = math.isfinite(loss.item())
        if self.hparams.nonfinite_loss == "skip":
            if self.trainer.strategy.reduce_boolean_decision(not finite, all=False):  # any rank: all skip
                return self._skip_nonfinite(loss)
        elif not finite:
            raise FloatingPointError(
                f"training loss became {loss.item()} at step {self.global_step}; lower the learning rate, "
                "check the data, or set model.nonfinite_loss=skip (the last checkpoint is intact)"
            )
        return loss

    def _skip_nonfinite(self, loss: torch.Tensor) -> None:
        if not all(torch.isfinite(p).all() for p in self.parameters()):
            raise FloatingPointError(
                f"the weights became NaN/Inf by step {self.global_step}, so skipping batches cannot help; "
                "lower the learning rate and resume from an earlier checkpoint"
            )
        self.nonfinite_skipped += 1
        self.log("train/nonfinite_skipped", float(self.nonfinite_skipped), reduce_fx="max", rank_zero_only=True)
        rank_zero_warn(f"skipped a batch with training loss {loss.item()} at step {self.global_step}")
        return None

    def validation_step(self, batch: dict, batch_idx: int) -> dict | None:
        if batch["lab"].shape[0] == 0:
            return None
        output = self._step(batch, "val")
        target = to_uint8(batch["rgb"])
        self.val_metrics.update(to_uint8(output["rgb_pred"]), target)
        self.val_gray_metrics.update(to_uint8(lab_to_rgb(grey_lab(batch["lab"][:, :1]))), target)
        self.log_dict(self.val_metrics)
        self.log_dict(self.val_gray_metrics)
        if self.hint_sampler is not None and self.hparams.val_hint_points:
            generator = torch.Generator().manual_seed(batch_idx)
            local_hints = self.hint_sampler.points(batch["lab"], self.hparams.val_hint_points, generator)
            l = batch["lab"][:, :1]
            rgb = ab_to_rgb(l, predict_ab(self.network, l, local_hints, temperature=self.hparams.temperature))
            self.val_hint_metrics.update(to_uint8(rgb), target)
            self.log_dict(self.val_hint_metrics)
        return output

    def on_validation_epoch_end(self) -> None:
        """`val/psnr_gain`: val/psnr - val/gray_psnr in dB, what the colours add over the grey input (the figure to
        sort runs by). Both metrics are computed here (synced across DDP ranks) and cached for their own logging."""
        psnr, gray_psnr = self.val_metrics["psnr"], self.val_gray_metrics["psnr"]
        if psnr.update_count and gray_psnr.update_count:
            self.log("val/psnr_gain", psnr.compute() - gray_psnr.compute())

    def test_step(self, batch: dict, batch_idx: int) -> None:
        if batch["lab"].shape[0] == 0:
            return None
        output = self._step(batch, "test")
        self.test_metrics.update(to_uint8(output["rgb_pred"]), to_uint8(batch["rgb"]))
        self.log_dict(self.test_metrics)

    def predict_step(self, batch: dict, batch_idx: int) -> dict:
        """Returns {"rgb": (B, 3, H, W) uint8 colourised images, "paths": their source files}."""
        l = batch["lab"][:, :1]
        rgb = ab_to_rgb(l, predict_ab(self.network, l, temperature=self.hparams.temperature))
        return {"rgb": to_uint8(rgb), "paths": batch["paths"]}

    # ---------------------------------------------------------------- optimisation
    def configure_optimizers(self):
        optimizer = self.optimizer(self.parameters())
        if self.scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": self.scheduler(optimizer), "interval": "epoch"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Store the network's plain config so deployment can rebuild it without unpickling objects."""
        checkpoint["network"] = {"name": network_name(self.network), "config": self.network.config()}
