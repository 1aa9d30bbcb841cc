"""A dataset over image files that reports, instead of raising, the files it had to skip."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from datamodules.decoding import DEFAULT_MAX_PIXELS, ImageDecodeError, decode_image, is_grey

SKIP_GREY = "grey"
SKIP_BAD = "bad"


class ImageFileDataset(Dataset):
    """Items are {"image": (3, S, S) uint8 or None, "path": str, "skip": "" | "grey" | "bad",
    "reason": str}. A file that fails to decode, or a grey photo when `skip_grey`, is reported,
    not raised, so one bad file never stops a long run."""

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
