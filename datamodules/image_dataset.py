"""A dataset over image files that reports, instead of raising, the files it had to skip."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from pseudocolor.datamodules.decoding import (
    DEFAULT_MAX_PIXELS,
    JPEG_EXTENSIONS,
    ImageDecodeError,
    decode_image,
    is_grey,
    read_plain_jpeg,
)

SKIP_GREY = "grey"
SKIP_BAD = "bad"
MIN_SIDE = 8  # photos with a shorter side carry no colour to learn or score; smaller than the crop is fine
DEFAULT_MAX_BAD_FRACTION = 0.05  # training and evaluation stop when more of their files are unreadable


def too_small_reason(path: str, width: int, height: int) -> str:
    """The skip reason of a photo with a side shorter than MIN_SIDE; "" when it is large enough."""
    if min(width, height) >= MIN_SIDE:
        return ""
    return f"{path}: {width}x{height} pixels, below the minimum side of {MIN_SIDE}; use a larger photo"


def exceeds_bad_fraction(bad: int, files: int, max_bad_fraction: float) -> bool:
    """True when `bad` unreadable files are more than `max_bad_fraction` of `files`."""
    return bad > max_bad_fraction * files


class ImageFileDataset(Dataset):
    """Items are {"image": (3, S, S) uint8 or None, "path": str, "skip": "" | "grey" | "bad",
    "reason": str}. A file that fails to decode or has a side shorter than MIN_SIDE ("bad"), or a grey
    photo when `skip_grey`, is reported, not raised, so one bad file never stops a long run. Photos
    smaller than the transform's output are resized up by it and used.

    With `read_jpegs`, a JPEG that `torchvision.io.decode_jpeg` decodes exactly (see `read_plain_jpeg`) is not
    decoded here: its item has "image" None and "encoded" its file's bytes ((N,) uint8 numpy array), after
    the size checks of its header; grey and transform are then the decoder's job (`pseudocolor.datamodules.device_decode`).
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        transform: Callable[[torch.Tensor], torch.Tensor],
        skip_grey: bool = False,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        read_jpegs: bool = False,
    ) -> None:
        self.files = [str(f) for f in files]
        self.transform = transform
        self.skip_grey = skip_grey
        self.max_pixels = max_pixels
        self.read_jpegs = read_jpegs

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        path = self.files[index]
        try:
            jpeg = read_plain_jpeg(path, self.max_pixels) if self.read_jpegs and _is_jpeg_name(path) else None
            image = decode_image(path, self.max_pixels) if jpeg is None else None
        except ImageDecodeError as error:
            return {"image": None, "path": path, "skip": SKIP_BAD, "reason": str(error)}
        width, height = jpeg[1:] if jpeg is not None else (image.shape[2], image.shape[1])
        if reason := too_small_reason(path, width, height):
            return {"image": None, "path": path, "skip": SKIP_BAD, "reason": reason}
        if jpeg is not None:
            return {"image": None, "encoded": jpeg[0], "path": path, "skip": "", "reason": ""}
        if self.skip_grey and is_grey(image):
            return {"image": None, "path": path, "skip": SKIP_GREY, "reason": f"{path}: grey photo"}
        return {"image": self.transform(image), "path": path, "skip": "", "reason": ""}


def _is_jpeg_name(path: str) -> bool:
    return Path(path).suffix.lower() in JPEG_EXTENSIONS


def collate_images(items: list[dict]) -> dict:
    """-> {"image": (B, 3, S, S) uint8 of the decoded items, "paths": their files,
    "skipped": [(path, kind, reason), ...] for the skipped ones}; when items carry undecoded JPEGs, also
    "encoded": [(N,) uint8 numpy arrays] and "encoded_paths": their files."""
    good = [item for item in items if item["image"] is not None]
    encoded = [item for item in items if item.get("encoded") is not None]
    images = torch.stack([item["image"] for item in good]) if good else torch.empty(0, 3, 0, 0, dtype=torch.uint8)
    batch = {
        "image": images,
        "paths": [item["path"] for item in good],
        "skipped": [(item["path"], item["skip"], item["reason"]) for item in items if item["skip"]],
    }
    if encoded:
        batch["encoded"] = [item["encoded"] for item in encoded]
        batch["encoded_paths"] = [item["path"] for item in encoded]
    return batch
