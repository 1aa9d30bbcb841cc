"""The shared LightningDataModule: CPU workers decode and crop (or only read JPEG bytes for the device to decode),
the device converts to Lab."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import kornia.augmentation as K
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader

from pseudocolor.datamodules.color_space import rgb_to_lab
from pseudocolor.datamodules.decoding import DEFAULT_MAX_PIXELS
from pseudocolor.datamodules.device_decode import decode_jpegs, transform_decoded
from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.datamodules.image_dataset import ImageFileDataset, collate_images
from pseudocolor.datamodules.resumable_loader import ResumableDataLoader, ResumableSampler
from pseudocolor.datamodules.transforms import eval_transform, to_float, train_transform

PRIOR_RESOLUTION = 64
JPEG_DECODE_MODES = ("workers", "device", "auto")


def default_num_workers() -> int:
    """Two cores left for the main process; none at all on small machines, where workers only cost."""
    return max(0, min(16, (os.cpu_count() or 1) - 2))


class ColorizationDataModule(LightningDataModule):
    """Base class: subclasses say which files are train / val; this class makes the loaders.

    Batches on the device are {"rgb": (B, 3, S, S) float in [0, 1], "lab": (B, 3, S, S) with
    L in [0, 100], "paths": [str], "skipped": [(path, kind, reason)]}.

    Args:
        batch_size: images per batch per device.
        crop_size: side of the random training crops.
        crop_min_scale: the smallest fraction of a photo's area a training crop covers (torchvision's
            RandomResizedCrop `scale`). Small crops are enlarged to `crop_size`, so a larger value keeps the
            training inputs as sharp as the photos.
        eval_size: side of the validation/test center crops.
        num_workers: loader processes; None picks `default_num_workers()`.
        skip_grey: leave grey photos out of training (they teach desaturated colours).
        augment: random resized crops and horizontal flips for training; False trains on center crops
            of `crop_size`, unflipped, so batches are deterministic (DDP equivalence tests, debugging).
        max_pixels: larger images are refused as possible decompression bombs.
        jpeg_decode: where JPEGs are decoded. "workers": in the loader workers, with every other file (PIL).
            "device": the workers only read the bytes of plain JPEGs (see `read_plain_jpeg`) and check their
            header, and `on_after_batch_transfer` decodes them in one batched `torchvision.io.decode_jpeg` on the
            batch's device (nvjpeg on a GPU), then crops / resizes there; other files are still decoded by the
            workers. "auto": "device" when the trainer runs on CUDA, else "workers".
    """

    def __init__(
        self,
        batch_size: int = 32,
        crop_size: int = 176,
        crop_min_scale: float = 0.35,
        eval_size: int = 256,
        num_workers: int | None = None,
        skip_grey: bool = True,
        augment: bool = True,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        jpeg_decode: Literal["workers", "device", "auto"] = "workers",
    ) -> None:
        super().__init__()
        if jpeg_decode not in JPEG_DECODE_MODES:
            raise PseudocolorError(f"jpeg_decode must be one of {JPEG_DECODE_MODES}, got {jpeg_decode!r}")
        self.batch_size = batch_size
        self.crop_size = crop_size
        if not 0 < crop_min_scale <= 1:
            raise PseudocolorError(f"crop_min_scale must be in (0, 1], got {crop_min_scale}")
        self.crop_min_scale = crop_min_scale
        self.eval_size = eval_size
        self.num_workers = default_num_workers() if num_workers is None else num_workers
        self.skip_grey = skip_grey
        self.augment = augment
        self.max_pixels = max_pixels
        self.jpeg_decode = jpeg_decode
        self.flip = K.RandomHorizontalFlip()

    # Subclasses provide the file lists.
    def train_files(self) -> list[Path]:
        raise NotImplementedError

    def val_files(self) -> list[Path]:
        raise NotImplementedError

    def source_folders(self, split: str) -> list[Path]:
        """The folders the photos of `split` ("train" or "val") come from, recorded with the run; by default the
        files' common folder."""
        files = self.train_files() if split == "train" else self.val_files()
        return [Path(os.path.commonpath([file.parent for file in files]))] if files else []

    def _loader(self, files: list[Path], train: bool) -> DataLoader:
        if not files:
            raise FileNotFoundError(f"{type(self).__name__} found no {'training' if train else 'evaluation'} images")
        dataset = ImageFileDataset(
            files,
            self._transform(train),
            skip_grey=train and self.skip_grey,
            max_pixels=self.max_pixels,
            read_jpegs=self.decodes_jpegs_on_device(),
        )
        options = dict(
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            collate_fn=collate_images,
        )
        if not train:
            return DataLoader(dataset, **options)
        sampler = ResumableSampler(dataset)
        return ResumableDataLoader(dataset, sampler=sampler, drop_last=len(sampler) > self.batch_size, **options)

    def _transform(self, train: bool) -> Callable[[torch.Tensor], torch.Tensor]:
        if train:
            return (
                train_transform(self.crop_size, self.crop_min_scale) if self.augment else eval_transform(self.crop_size)
            )
        return eval_transform(self.eval_size)

    def decodes_jpegs_on_device(self) -> bool:
        """Whether the loaders leave plain JPEGs to `on_after_batch_transfer` (see `jpeg_decode`)."""
        if self.jpeg_decode == "auto":
            return self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        return self.jpeg_decode == "device"

    def train_dataloader(self) -> DataLoader:
        """Shuffled per epoch by a seeded, DDP-aware sampler; a checkpoint mid-epoch resumes at the next batch."""
        return self._loader(self.train_files(), train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_files(), train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.val_files(), train=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.val_files(), train=False)

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        if "encoded" in batch:
            batch = self._decode_on_device(batch)
        rgb = to_float(batch["image"])
        if self.augment and self.trainer is not None and self.trainer.training and rgb.shape[0]:
            rgb = self.flip(rgb)
        batch["rgb"] = rgb
        batch["lab"] = rgb_to_lab(rgb)
        return batch

    def _decode_on_device(self, batch: dict) -> dict:
        """Decode and crop the batch's undecoded JPEGs on the device of its "image" tensor and append them to
        "image" and "paths" (after the worker-decoded ones); files that fail or are grey go to "skipped"."""
        train = self.trainer is not None and self.trainer.training
        device = batch["image"].device
        images, paths, bad = decode_jpegs(batch.pop("encoded"), batch.pop("encoded_paths"), device, self.max_pixels)
        images, paths, grey = transform_decoded(images, paths, self._transform(train), train and self.skip_grey)
        if paths:
            decoded = [batch["image"]] if batch["image"].shape[0] else []
            batch["image"] = torch.cat([*decoded, images])
            batch["paths"] = [*batch["paths"], *paths]
        batch["skipped"] = [*batch["skipped"], *bad, *grey]
        return batch

    def ab_samples(self, num_images: int) -> Iterator[torch.Tensor]:
        """(B, 2, 64, 64) ab of the first `num_images` colour training photos (center crops), for the bin prior."""
        files = self.train_files()[:num_images]
        dataset = ImageFileDataset(
            files, eval_transform(PRIOR_RESOLUTION), skip_grey=self.skip_grey, max_pixels=self.max_pixels
        )
        loader = DataLoader(dataset, batch_size=64, num_workers=self.num_workers, collate_fn=collate_images)
        for batch in loader:
            if batch["image"].shape[0]:
                yield rgb_to_lab(to_float(batch["image"]))[:, 1:]
