"""Counts the photos the loaders skipped (grey, unreadable), logs them, and stops a run drowning in bad files."""

from __future__ import annotations

from collections import defaultdict

from lightning.pytorch import Callback
from lightning.pytorch.loggers import MLFlowLogger

from datamodules.image_dataset import SKIP_BAD, SKIP_GREY

MIN_IMAGES_BEFORE_STOPPING = 20


class SkippedImagesMonitor(Callback):
    """Per stage ("train", "val") and epoch: logs `data/<stage>_skipped_grey` and `data/<stage>_skipped_bad`,
    writes the skipped files and reasons to `data/skipped_<stage>_e<epoch>.txt`, and raises once more than
    `max_bad_fraction` of the files seen were unreadable."""

    def __init__(self, max_bad_fraction: float = 0.05) -> None:
        self.max_bad_fraction = max_bad_fraction
        self.seen: dict[str, int] = defaultdict(int)
        self.skipped: dict[str, list[tuple[str, str, str]]] = defaultdict(list)

    def _count(self, batch: dict, stage: str) -> None:
        self.seen[stage] += batch["image"].shape[0] + len(batch["skipped"])
        self.skipped[stage].extend(batch["skipped"])
        bad = sum(kind == SKIP_BAD for _, kind, _ in self.skipped[stage])
        if bad > self.max_bad_fraction * max(self.seen[stage], MIN_IMAGES_BEFORE_STOPPING):
            raise RuntimeError(
                f"{bad} of {self.seen[stage]} {stage} images were unreadable (more than max_bad_fraction="
                f"{self.max_bad_fraction}); last: {self.skipped[stage][-1][2]}. Fix the data or raise the limit"
            )

    def _report(self, trainer, stage: str) -> None:
        skipped = self.skipped.pop(stage, [])
        self.seen.pop(stage, None)
        logger = trainer.logger
        if trainer.sanity_checking or not trainer.is_global_zero or not isinstance(logger, MLFlowLogger):
            return
        counts = {kind: sum(k == kind for _, k, _ in skipped) for kind in (SKIP_GREY, SKIP_BAD)}
        logger.log_metrics({f"data/{stage}_skipped_{kind}": n for kind, n in counts.items()}, step=trainer.global_step)
        if skipped:
            text = "\n".join(f"{kind}\t{reason}" for _, kind, reason in skipped)
            logger.experiment.log_text(logger.run_id, text, f"data/skipped_{stage}_e{trainer.current_epoch:03d}.txt")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._count(batch, "train")

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._report(trainer, "train")

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._count(batch, "val")

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        self._report(trainer, "val")

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._count(batch, "test")

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        self._report(trainer, "test")
