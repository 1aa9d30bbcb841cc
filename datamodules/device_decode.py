"""Decoding a batch's JPEGs on its device (nvjpeg on a GPU), for loaders whose workers only read the bytes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torchvision.io import ImageReadMode, decode_jpeg

from pseudocolor.datamodules.decoding import GREY_TOLERANCE, ImageDecodeError, channel_spread, decode_image
from pseudocolor.datamodules.image_dataset import SKIP_BAD, SKIP_GREY


def decode_jpegs(
    encoded: list[np.ndarray], paths: list[str], device: torch.device, max_pixels: int
) -> tuple[list[torch.Tensor], list[str], list[tuple[str, str, str]]]:
    """JPEG bytes ((N,) uint8 arrays) -> ((3, H, W) uint8 RGB images on `device`, their paths, skipped files).

    One batched `decode_jpeg` call; if it fails, the images are decoded one by one, and one the device cannot
    decode is decoded from its file by `decode_image` (libjpeg via PIL, on this CPU): it is used if that works
    and skipped as bad, with `decode_image`'s reason, if not, exactly as the workers would have done.
    """
    if not encoded:
        return [], [], []
    data = [torch.from_numpy(array) for array in encoded]
    try:
        return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=device)), list(paths), []
    except RuntimeError:
        pass  # one undecodable file fails the whole call: find it below, keep the others
    images, kept, skipped = [], [], []
    for tensor, path in zip(data, paths):
        try:
            images.append(decode_jpeg(tensor, mode=ImageReadMode.RGB, device=device))
        except RuntimeError:
            try:
                images.append(decode_image(path, max_pixels).to(device))
            except ImageDecodeError as error:
                skipped.append((path, SKIP_BAD, str(error)))
                continue
        kept.append(path)
    return images, kept, skipped


def transform_decoded(
    images: list[torch.Tensor],
    paths: list[str],
    transform: Callable[[torch.Tensor], torch.Tensor],
    skip_grey: bool,
) -> tuple[torch.Tensor, list[str], list[tuple[str, str, str]]]:
    """Decoded (3, H, W) uint8 images on one device -> ((B, 3, S, S) uint8 of `transform`ed images there, their
    paths, the grey photos left out when `skip_grey`), as the loader workers would have done.

    `transform` is a torchvision v2 crop / resize, run per image on the images' device.
    """
    grey = [False] * len(images)
    if skip_grey and images:
        grey = [spread <= GREY_TOLERANCE for spread in torch.stack([channel_spread(i) for i in images]).tolist()]
    kept = [(image, path) for image, path, is_grey in zip(images, paths, grey) if not is_grey]
    skipped = [(path, SKIP_GREY, f"{path}: grey photo") for path, is_grey in zip(paths, grey) if is_grey]
    if not kept:
        return torch.empty(0, 3, 0, 0, dtype=torch.uint8), [], skipped
    return torch.stack([transform(image) for image, _ in kept]), [path for _, path in kept], skipped
