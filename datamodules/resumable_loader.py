"""A training loader that a checkpoint can stop mid-epoch and resume at the next unseen batch."""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler


def _world() -> tuple[int, int]:
    """(number of processes, this process's rank); (1, 0) outside torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class ResumableSampler(DistributedSampler):
    """Shuffles with a generator seeded by (seed + epoch), so the order of any epoch can be rebuilt, and gives
    each DDP rank every world_size-th index of it (one process: all of them). `skip_next(n)` makes the next
    pass start after its first n indices (resuming mid-epoch); its length stays the full epoch's.

    Lightning keeps it (it is a DistributedSampler) and calls `set_epoch` before every epoch.
    """

    def __init__(self, dataset: Dataset, seed: int | None = None, drop_last: bool = False) -> None:
        world_size, rank = _world()
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0)) if seed is None else seed
        super().__init__(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=drop_last)
        self._skip = 0

    def skip_next(self, count: int) -> None:
        self._skip = count

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())[self._skip :]
        self._skip = 0
        return iter(indices)


class ResumableDataLoader(DataLoader):
    """A DataLoader over a ResumableSampler whose `state_dict` (epoch, batches handed out this epoch) Lightning
    stores in every checkpoint; after `load_state_dict` the next pass continues with the first batch the
    checkpointed run had not trained on."""

    def __init__(self, dataset: Dataset, batch_size: int, sampler: ResumableSampler, **kwargs) -> None:
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, **kwargs)
        self._batches_done = 0
        self._resume: tuple[int, int] | None = None  # (epoch, batches done) to continue on the next pass

    def __iter__(self) -> Iterator:
        self._batches_done = 0
        if self._resume is not None:
            # The checkpointed epoch's order, even where Lightning counts another epoch (a fit stopped by
            # max_steps saves epoch + 1 with the batches of the unfinished epoch).
            epoch, self._batches_done = self._resume
            self._resume = None
            self.sampler.set_epoch(epoch)
            self.sampler.skip_next(self._batches_done * self.batch_size)
        for batch in super().__iter__():
            self._batches_done += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "batches_done": self._batches_done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume inside the checkpointed epoch; a finished epoch resumes at the start of the next."""
        self._resume = (state["epoch"], state["batches_done"]) if state["batches_done"] < len(self) else None
