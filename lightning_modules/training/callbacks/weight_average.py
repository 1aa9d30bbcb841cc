"""An exponential moving average (EMA) of the network's weights, the one that validation and checkpoints see."""

from __future__ import annotations

import torch
from lightning.pytorch.callbacks import Callback

from pseudocolor.datamodules.errors import PseudocolorError

_PREFIX = "network."


class WeightAverage(Callback):
    """Keeps average <- decay * average + (1 - decay) * weights after every optimizer step.

    Validation runs on the averaged weights, and every checkpoint's `state_dict` holds them, so `evaluate`,
    `export` and `register` pick them up unchanged. The raw training weights travel in this callback's state,
    so `--ckpt_path` resumes training exactly where it stopped. Network-only (Lightning's own
    `EMAWeightAveraging` deep-copies the whole module, which fails on the MLflow logger's lock)."""

    def __init__(self, decay: float = 0.999) -> None:
        if not 0 <= decay < 1:
            raise PseudocolorError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.average: dict[str, torch.Tensor] | None = None
        self._raw_to_restore: dict[str, torch.Tensor] | None = None
        self._held_out_raw: dict[str, torch.Tensor] | None = None

    def on_fit_start(self, trainer, pl_module) -> None:
        network = pl_module.network
        if self._raw_to_restore is not None:  # resumed: the checkpoint's state_dict was the average
            network.load_state_dict(self._raw_to_restore)
            self._raw_to_restore = None
        if self.average is None:
            self.average = {name: value.detach().clone() for name, value in network.state_dict().items()}
        self.average = {name: value.to(pl_module.device) for name, value in self.average.items()}

    @torch.no_grad()
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        for name, value in pl_module.network.state_dict().items():
            average = self.average[name]
            if average.is_floating_point():
                average.lerp_(value.to(average.dtype), 1 - self.decay)
            else:
                average.copy_(value)

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        if self.average is None or trainer.sanity_checking:
            return
        self._held_out_raw = {name: value.detach().clone() for name, value in pl_module.network.state_dict().items()}
        pl_module.network.load_state_dict(self.average)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if self._held_out_raw is not None:
            pl_module.network.load_state_dict(self._held_out_raw)
            self._held_out_raw = None

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        if self.average is None:
            return
        state = checkpoint["state_dict"]
        raw = self._held_out_raw or {name: state[_PREFIX + name].detach().clone() for name in self.average}
        if self.state_key in checkpoint.get("callbacks", {}):
            checkpoint["callbacks"][self.state_key]["raw"] = raw
        for name, value in self.average.items():
            state[_PREFIX + name] = value.detach().clone()

    def state_dict(self) -> dict:
        """The average; `on_save_checkpoint` adds the raw training weights beside it."""
        return {} if self.average is None else {"decay": self.decay, "average": self.average}

    def load_state_dict(self, state_dict: dict) -> None:
        if not state_dict:
            return
        self.average = {name: value.clone() for name, value in state_dict["average"].items()}
        self._raw_to_restore = state_dict.get("raw")
