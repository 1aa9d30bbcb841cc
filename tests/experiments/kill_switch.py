"""A callback for test_resume.py: records which photos each training step saw and, optionally, SIGKILLs
its own process after a given step (a real kill: no Python clean-up, no finalize, no checkpoint)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import torch
from lightning.pytorch import Callback


class StepRecorder(Callback):
    """Appends `{"step": s, "files": [...]}` per training batch to `record`, writes the final weights to
    `weights` at the end of fit, and kills the process after the batch that reaches `kill_after_step`
    (before that batch's metrics are logged and before any checkpoint of it; 0 = never)."""

    def __init__(self, record: str, weights: str, kill_after_step: int = 0) -> None:
        self.record, self.weights, self.kill_after_step = Path(record), Path(weights), kill_after_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        files = [Path(path).name for path in batch["paths"]]
        with self.record.open("a") as file:
            file.write(json.dumps({"step": trainer.global_step, "files": files}) + "\n")
        if trainer.global_step == self.kill_after_step:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_fit_end(self, trainer, pl_module) -> None:
        torch.save(pl_module.state_dict(), self.weights)
