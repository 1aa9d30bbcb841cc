"""Reading region masks for guided colouring: binary mask PNGs (files or bytes) or one label map."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from pseudocolor.datamodules.errors import PseudocolorError

FILE_REMEDY = "pass a PNG the image's size"


class MaskLoadError(PseudocolorError):
    """A mask (file or bytes) that cannot be used; the message names it and what to do."""


def _read(source: Path | io.BytesIO, size: tuple[int, int], name: str, remedy: str) -> np.ndarray:
    """-> (H, W) or (H, W, C) integer array of the mask's pixel values (palette indices for palette PNGs).

    The size is checked before the pixels are decoded, so a huge mask costs nothing.
    """
    try:
        with Image.open(source) as image:
            width, height = image.size
            if (height, width) != tuple(size):
                raise MaskLoadError(
                    f"{name}: mask is {width}x{height} pixels but the image is {size[1]}x{size[0]}; "
                    "masks must have the image's size"
                )
            image.load()
            array = np.asarray(image if image.mode in ("1", "L", "P", "I", "I;16") else image.convert("RGB"))
    except MaskLoadError:
        raise
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise MaskLoadError(f"{name}: cannot read this mask ({error}); {remedy}") from error
    return array.astype(np.int64)


def _binary(array: np.ndarray, name: str) -> np.ndarray:
    """(H, W) or (H, W, C) pixel values -> (H, W) bool, nonzero in any channel; an empty mask is refused."""
    mask = (array.max(axis=2) if array.ndim == 3 else array) > 0
    if not mask.any():
        raise MaskLoadError(f"{name}: mask is empty (all zero); mark the region with nonzero pixels")
    return mask


def decode_mask_bytes(data: bytes, size: tuple[int, int], name: str = "mask") -> torch.Tensor:
    """Encoded binary mask bytes (a PNG the image's (H, W) `size`, nonzero = inside) -> (H, W) bool.

    Raises MaskLoadError, naming `name`, for unreadable, wrongly sized or empty masks.
    """
    remedy = "send the bytes of a PNG the image's size"
    if not data:
        raise MaskLoadError(f"{name}: empty; {remedy}")
    return torch.from_numpy(_binary(_read(io.BytesIO(data), size, name, remedy), name))


def load_masks(path_or_paths: str | Path | Sequence[str | Path], size: tuple[int, int], label_map: bool = False) -> torch.Tensor:
    """Mask files -> (R, H, W) bool, one mask per region.

    Args:
        path_or_paths: one file or a list. Each binary mask marks its region with nonzero pixels
            (any channel). With `label_map`, a single file whose every distinct nonzero value (palette
            index, grey level or RGB colour) is one region; 0 / black is the background.
        size: (H, W) of the image the masks belong to.

    Regions come in the order of the files, or of ascending label values for a label map.
    Raises MaskLoadError naming the file for unreadable, wrongly sized or empty masks.
    """
    paths = [Path(path_or_paths)] if isinstance(path_or_paths, (str, Path)) else [Path(p) for p in path_or_paths]
    if not paths:
        raise MaskLoadError("no mask files given")
    if label_map:
        if len(paths) != 1:
            raise MaskLoadError(f"a label map is one file, got {len(paths)}: {', '.join(map(str, paths))}")
        array = _read(paths[0], size, str(paths[0]), FILE_REMEDY)
        if array.ndim == 3:
            array = (array[..., 0] << 16) | (array[..., 1] << 8) | array[..., 2]
        labels = [label for label in np.unique(array) if label != 0]
        if not labels:
            raise MaskLoadError(f"{paths[0]}: label map holds only background (0); label each region with its own value")
        return torch.from_numpy(np.stack([array == label for label in labels]))
    masks = [_binary(_read(path, size, str(path), FILE_REMEDY), str(path)) for path in paths]
    return torch.from_numpy(np.stack(masks))
