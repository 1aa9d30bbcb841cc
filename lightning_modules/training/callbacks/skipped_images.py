"""Counts the photos the loaders skipped (grey, unreadable), logs them, and stops a run drowning in bad files."""

from __future__ import annotations

from collections import defaultdict

from lightning.pytorch import Callback
from lightning.pytorch.loggers import MLFlowLogger

from pseudocolor.datamodules.image_dataset import DEFAULT_MAX_BAD_FRACTION, SKIP_BAD, SKIP_GREY, exceeds_bad_fraction


class SkippedImagesMonitor(Callback):
    """Per stage ("train", "val", "test") and epoch: logs `data/<stage>_skipped_grey` and `data/<stage>_skipped_bad`
    (summed over DDP ranks, through `pl_module.log`, so at the step of the stage's other epoch metrics), writes the
    skipped files and reasons to `data/skipped_<stage>_e<epoch>.txt`, and stops the run once more than
    `max_bad_fraction` of the stage's files are unreadable.

    The stop comes, after the report of what was skipped so far, mid-epoch as soon as the bad files are more
    than that fraction of every file the loader hands out this epoch (so the order of the files never matters),
    else at the end of the epoch when they are more than that fraction of the files seen (fewer with
    limit_*_batches). The sanity check logs nothing and stops only by the mid-epoch rule. Under DDP each rank
    judges its own share.
    """

    def __init__(self, max_bad_fraction: float = DEFAULT_MAX_BAD_FRACTION) -> None:
        self.max_bad_fraction = max_bad_fraction
        self.seen: dict[str, int] = defaultdict(int)
        self.skipped: dict[str, list[tuple[str, str, str]]] = defaultdict(list)

    def _count(self, trainer, pl_module, batch: dict, stage: str, dataloader_idx: int = 0) -> None:
        self.seen[stage] += batch["image"].shape[0] + len(batch["skipped"])
        self.skipped[stage].extend(batch["skipped"])
        loaders = {"train": trainer.train_dataloader, "val": trainer.val_dataloaders, "test": trainer.test_dataloaders}
        loader = loaders[stage]
        loader = loader[dataloader_idx] if isinstance(loader, (list, tuple)) else loader
        files = len(loader.sampler)  # every file this rank's loader hands out this epoch
        bad = sum(kind == SKIP_BAD for _, kind, _ in self.skipped[stage])
        if exceeds_bad_fraction(bad, files, self.max_bad_fraction):
            self._report(trainer, pl_module, stage, files)

    def _report(self, trainer, pl_module, stage: str, files: int | None = None) -> None:
        """Log the stage's skipped files (not those of the sanity check), then stop the run if more than
        max_bad_fraction of `files` (by default the files seen) were unreadable. The counts are epoch metrics, logged
        at the end of an epoch; a stop mid-epoch logs the list of files only."""
        bad = [reason for _, kind, reason in self.skipped[stage] if kind == SKIP_BAD]
        skipped, seen = self.skipped.pop(stage, []), self.seen.pop(stage, 0)
        logger = trainer.logger
        if trainer.sanity_checking:
            if files is None:
                return  # a sanity check sees a few batches: too few files to judge a fraction by
        else:
            if files is None:  # Lightning logs these with the stage's other epoch metrics, at their step
                for kind in (SKIP_GREY, SKIP_BAD):
                    count = float(sum(k == kind for _, k, _ in skipped))
                    pl_module.log(f"data/{stage}_skipped_{kind}", count, on_epoch=True, reduce_fx="sum", sync_dist=True)
            if skipped and trainer.is_global_zero and isinstance(logger, MLFlowLogger):
                text = "\n".join(f"{kind}\t{reason}" for _, kind, reason in skipped)
                name = f"data/skipped_{stage}_e{trainer.current_epoch:03d}.txt"
                logger.experiment.log_text(logger.run_id, text, name)
        files = seen if files is None else files
        if exceeds_bad_fraction(len(bad), files, self.max_bad_fraction):
            raise RuntimeError(
                f"{len(bad)} of the {files} {stage} images are unreadable, more than max_bad_fraction="
                f"{self.max_bad_fraction} (last: {bad[-1]}); fix or remove them (the MLflow run lists them under "
                "data/) or raise --skipped_images.max_bad_fraction"
            )

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._count(trainer, pl_module, batch, "train")

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._report(trainer, pl_module, "train")

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._count(trainer, pl_module, batch, "val", dataloader_idx)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        self._report(trainer, pl_module, "val")

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._count(trainer, pl_module, batch, "test", dataloader_idx)

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        self._report(trainer, pl_module, "test")
