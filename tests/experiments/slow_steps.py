"""A test-only callback that makes each training step last longer, so a fit outlives a tracking outage."""

from __future__ import annotations

import time

from lightning.pytorch import Callback


class SlowSteps(Callback):
    """Sleeps `seconds` after every training batch."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        time.sleep(self.seconds)
