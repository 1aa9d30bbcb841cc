"""Reading photos from disk into uint8 RGB tensors, whatever their mode, orientation or size."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")
DEFAULT_MAX_PIXELS = 40_000_000  # larger images are refused as possible decompression bombs
GREY_TOLERANCE = 3.0  # mean per-pixel channel spread (8-bit levels) below which a photo counts as grey


class ImageDecodeError(ValueError):
    """A file that cannot be used as a photo; the message names the file and what to do."""


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def list_images(root: str | Path) -> list[Path]:
    """Every photo below `root` (extensions in IMAGE_EXTENSIONS, any case), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory; pass a folder of photos")
    return sorted(p for p in root.rglob("*") if p.is_file() and is_image_file(p))


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / scale * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def image_to_rgb(image: Image.Image) -> torch.Tensor:
    """An opened PIL image of any mode -> (3, H, W) uint8 RGB, EXIF orientation applied."""
    return torch.from_numpy(np.asarray(_to_rgb(ImageOps.exif_transpose(image))).copy()).permute(2, 0, 1)


def _decode(source: str | Path | io.BytesIO, name: str, remedy: str, max_pixels: int) -> torch.Tensor:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageDecodeError(
                        f"{name}: {width}x{height} pixels exceeds the limit of {max_pixels} "
                        "(a possible decompression bomb); downsize it or raise max_pixels"
                    )
                return image_to_rgb(image)
    except ImageDecodeError:
        raise
    except FileNotFoundError as error:
        raise ImageDecodeError(f"{name}: file not found; check the path") from error
    except PermissionError as error:
        raise ImageDecodeError(f"{name}: permission denied; make the file readable") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        detail = str(error).replace(f" {source!r}", "")  # PIL names an in-memory source by its repr
        raise ImageDecodeError(f"{name}: not a readable image ({detail}); {remedy}") from error


def decode_image(source: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Read a photo -> (3, H, W) uint8 RGB, EXIF orientation applied.

    Grey, palette, RGBA (composited on white), CMYK and 16-bit inputs are converted to 8-bit RGB.
    Raises ImageDecodeError, naming the file, for anything unreadable, truncated or larger than
    `max_pixels`.
    """
    return _decode(Path(source), str(source), "remove or replace the file", max_pixels)


def decode_image_bytes(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "image") -> torch.Tensor:
    """Encoded image bytes (any format PIL reads) -> (3, H, W) uint8 RGB, as `decode_image`.

    Raises ImageDecodeError, naming `name`, for empty, unreadable or too large (> `max_pixels`) data.
    """
    if not data:
        raise ImageDecodeError(f"{name}: empty; send the bytes of a JPEG, PNG or other image file")
    return _decode(io.BytesIO(data), name, "send the bytes of a JPEG, PNG or other image file", max_pixels)


def is_grey(image: torch.Tensor, tolerance: float = GREY_TOLERANCE) -> bool:
    """True when a (3, H, W) uint8 image has (almost) equal channels: mean max-min spread <= tolerance."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"image must have shape (3, H, W), got {tuple(image.shape)}")
    small = image[:, :: max(1, image.shape[1] // 64), :: max(1, image.shape[2] // 64)].float()
    return (small.amax(dim=0) - small.amin(dim=0)).mean().item() <= tolerance
