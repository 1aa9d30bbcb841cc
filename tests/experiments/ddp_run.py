"""`pseudocolor fit` plus a recorder of what each rank saw and a SyncBatchNorm that works on CPU;
test_ddp.py runs it as `python -m tests.experiments.ddp_run fit ...` in a subprocess (strategy="ddp"
re-launches the same command for rank 1, which must not be pytest)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from lightning.pytorch import Callback
from torch import nn
from torch.distributed.nn.functional import all_reduce

from pseudocolor.experiments.cli import main


class CpuSyncBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are summed over all DDP ranks with a differentiable gloo
    all-reduce: the CPU stand-in for torch's SyncBatchNorm, which DDP refuses on CPU modules.
    (B, C, H, W) -> (B, C, H, W); eval mode, or no process group, is plain BatchNorm2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        channels = self.num_features
        count = x.new_full((1,), x.numel() / channels)
        stats = all_reduce(torch.cat([x.sum(dim=(0, 2, 3)), (x * x).sum(dim=(0, 2, 3)), count]))
        total = stats[-1]
        mean = stats[:channels] / total
        var = stats[channels : 2 * channels] / total - mean * mean
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * total / (total - 1), self.momentum)
            self.num_batches_tracked.add_(1)
        scale = self.weight / torch.sqrt(var + self.eps)
        return x * scale[:, None, None] + (self.bias - mean * scale)[:, None, None]


def _swap_batchnorm(module: nn.Module) -> None:
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            replacement = CpuSyncBatchNorm2d(child.num_features, child.eps, child.momentum)
            replacement.load_state_dict(child.state_dict())
            setattr(module, name, replacement)
        else:
            _swap_batchnorm(child)


class UseCpuSyncBatchNorm(Callback):
    """Replaces every BatchNorm2d of the module by CpuSyncBatchNorm2d before DDP wraps it."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        _swap_batchnorm(pl_module)


class RunRecorder(Callback):
    """Writes, under `out_dir`: `order_r{rank}_e{epoch}.json` (training files in the order this rank
    saw them), `run_id_r{rank}.json` (the run id this rank knows) and, from rank 0, `weights.pt`
    (the final state_dict)."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.paths: list[str] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.paths = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.paths.extend(Path(path).name for path in batch["paths"])

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._write(f"order_r{trainer.global_rank}_e{trainer.current_epoch}.json", self.paths)

    def on_fit_end(self, trainer, pl_module) -> None:
        run_ids = {"module": pl_module.mlflow_run_id, "logger": trainer.logger.run_id}
        self._write(f"run_id_r{trainer.global_rank}.json", run_ids)
        if trainer.is_global_zero:
            torch.save(pl_module.state_dict(), self.out_dir / "weights.pt")

    def _write(self, name: str, content) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / name).write_text(json.dumps(content))


if __name__ == "__main__":
    main(sys.argv[1:])
