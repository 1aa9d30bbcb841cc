"""A dataset over image files that reports, instead of raising, the files it had to skip."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from datamodules.decoding import DEFAULT_MAX_PIXELS, ImageDecodeError, decode_image, is_grey

SKIP_GREY = "grey"
SKIP_BAD = "bad"
MIN_SIDE = 8  # photos with a shorter side carry no colour to learn or score; smaller than the crop is fine
DEFAULT_MAX_BAD_FRACTION = 0.05  # training and evaluation stop when more of their files are unreadable


def exceeds_bad_fraction(bad: int, files: int, max_bad_fraction: float) -> bool:
    """True when `bad` unreadable files are more than `max_bad_fraction` of `files`."""
    return bad > max_bad_fraction * files


class ImageFileDataset(Dataset):
    """Items are {"image": (3, S, S) uint8 or None, "path": str, "skip": "" | "grey" | "bad",
    "reason": str}. A file that fails to decode or has a side shorter than MIN_SIDE ("bad"), or a grey
    photo when `skip_grey`, is reported, not raised, so one bad file never stops a long run. Photos
    smaller than the transform's output are resized up by it and used."""

    def __init__(
        self,
        files: Sequence[str | Path],
        transform: Callable[[torch.Tensor], torch.Tensor],
        skip_grey: bool = False,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.files = [str(f) for f in files]
        self.transform = transform
        self.skip_grey = skip_grey
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        path = self.files[index]
        try:
            image = decode_image(path, self.max_pixels)
        except ImageDecodeError as error:
            return {"image": None, "path": path, "skip": SKIP_BAD, "reason": str(error)}
        height, width = image.shape[1:]
        if min(height, width) < MIN_SIDE:
            reason = f"{path}: {width}x{height} pixels, below the minimum side of {MIN_SIDE}; use a larger photo"
            return {"image": None, "path": path, "skip": SKIP_BAD, "reason": reason}
        if self.skip_grey and is_grey(image):
            return {"image": None, "path": path, "skip": SKIP_GREY, "reason": f"{path}: grey photo"}
        return {"image": self.transform(image), "path": path, "skip": "", "reason": ""}


def collate_images(items: list[dict]) -> dict:
    """-> {"image": (B, 3, S, S) uint8 of the usable items, "paths": their files,
    "skipped": [(path, kind, reason), ...] for the others}."""
    good = [item for item in items if item["image"] is not None]
    images = torch.stack([item["image"] for item in good]) if good else torch.empty(0, 3, 0, 0, dtype=torch.uint8)
    return {
        "image": images,
        "paths": [item["path"] for item in good],
        "skipped": [(item["path"], item["skip"], item["reason"]) for item in items if item["image"] is None],
    }
