"""Reading photos from disk into uint8 RGB tensors, whatever their mode, orientation or size."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from pseudocolor.datamodules.errors import PseudocolorError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")
DEFAULT_MAX_PIXELS = 40_000_000  # larger images are refused as possible decompression bombs
FILE_REMEDY = "remove or replace the file"
JPEG_EXTENSIONS = (".jpg", ".jpeg")
EXIF_ORIENTATION = 0x0112
GREY_TOLERANCE = 3.0  # mean per-pixel channel spread (8-bit levels) below which a photo counts as grey


class ImageDecodeError(PseudocolorError):
    """A file that cannot be used as a photo; the message names the file and what to do."""


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def list_images(root: str | Path) -> list[Path]:
    """Every photo below `root` (extensions in IMAGE_EXTENSIONS, any case), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory; pass a folder of photos")
    return sorted(p for p in root.rglob("*") if p.is_file() and is_image_file(p))


def read_list_file(list_file: str | Path, val_dir: Path) -> list[Path]:
    """Resolve a ctest10k-format list (`/n01440764/ILSVRC2012_val_00000293.JPEG 0` per line, paths
    relative to val/) against `val_dir`, laid out either in <wnid>/ folders or flat."""
    list_file = Path(list_file)
    if not list_file.is_file():
        raise FileNotFoundError(f"list file {list_file} not found; pass a ctest10k-format list or omit it")
    files = []
    for number, line in enumerate(list_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        relative = Path(line.split()[0].lstrip("/"))
        for candidate in (val_dir / relative, val_dir / relative.name):
            if candidate.is_file():
                files.append(candidate)
                break
        else:
            raise FileNotFoundError(
                f"{list_file}:{number}: {relative} is in neither {val_dir}/<wnid>/ nor {val_dir}/; "
                "check the val folder or the list"
            )
    return files


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / scale * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def image_to_rgb(image: Image.Image, alpha: bool = False) -> torch.Tensor:
    """An opened PIL image of any mode -> (3, H, W) uint8 RGB, EXIF orientation applied; with `alpha`, an image
    with transparency comes as (4, H, W) RGBA instead (colour not composited)."""
    image = ImageOps.exif_transpose(image)
    converted = image.convert("RGBA") if alpha and _has_alpha(image) else _to_rgb(image)
    return torch.from_numpy(np.asarray(converted).copy()).permute(2, 0, 1)


@contextlib.contextmanager
def _named_errors(source: object, name: str, remedy: str) -> Iterator[None]:
    """Turn whatever reading or decoding `source` raises into an ImageDecodeError naming `name` and `remedy`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except ImageDecodeError:
        raise
    except FileNotFoundError as error:
        raise ImageDecodeError(f"{name}: file not found; check the path") from error
    except PermissionError as error:
        raise ImageDecodeError(f"{name}: permission denied; make the file readable") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        detail = str(error).replace(f" {source!r}", "")  # PIL names an in-memory source by its repr
        raise ImageDecodeError(f"{name}: not a readable image ({detail}); {remedy}") from error


def _check_size(image: Image.Image, name: str, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageDecodeError(
            f"{name}: {width}x{height} pixels exceeds the limit of {max_pixels} "
            "(a possible decompression bomb); downsize it or raise max_pixels"
        )


def _decode(source: str | Path | io.BytesIO, name: str, remedy: str, max_pixels: int, alpha: bool) -> torch.Tensor:
    with _named_errors(source, name, remedy), Image.open(source) as image:
        _check_size(image, name, max_pixels)
        return image_to_rgb(image, alpha)


def decode_image(source: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, alpha: bool = False) -> torch.Tensor:
    """Read a photo -> (3, H, W) uint8 RGB, EXIF orientation applied.

    Grey, palette, RGBA (composited on white), CMYK and 16-bit inputs are converted to 8-bit RGB; with `alpha`, a
    picture with transparency comes as (4, H, W) RGBA (references: transparent pixels give no colour).
    Raises ImageDecodeError, naming the file, for anything unreadable, truncated or larger than
    `max_pixels`.
    """
    return _decode(Path(source), str(source), FILE_REMEDY, max_pixels, alpha)


def decode_image_bytes(
    data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "image", alpha: bool = False
) -> torch.Tensor:
    """Encoded image bytes (any format PIL reads) -> (3, H, W) uint8 RGB (or RGBA with `alpha`), as `decode_image`.

    Raises ImageDecodeError, naming `name`, for empty, unreadable or too large (> `max_pixels`) data.
    """
    if not data:
        raise ImageDecodeError(f"{name}: empty; send the bytes of a JPEG, PNG or other image file")
    return _decode(io.BytesIO(data), name, "send the bytes of a JPEG, PNG or other image file", max_pixels, alpha)


class ImageTooLargeError(ImageDecodeError):
    """Image bytes whose header gives more pixels than PIL opens at all (`more_than`): a likely decompression bomb."""

    def __init__(self, message: str, more_than: int) -> None:
        super().__init__(message)
        self.more_than = more_than


def read_image_size(data: bytes, name: str = "image") -> tuple[int, int]:
    """Encoded image bytes -> (width, height) read from the header alone: no pixel is decoded, so this costs
    microseconds and no memory whatever the size. EXIF orientation is not applied (it keeps the pixel count).

    Raises ImageDecodeError, naming `name`, for empty or unreadable data, and ImageTooLargeError for a header past
    PIL's decompression-bomb guard (2 x Image.MAX_IMAGE_PIXELS), whose exact size PIL does not give.
    """
    if not data:
        raise ImageDecodeError(f"{name}: empty; send the bytes of a JPEG, PNG or other image file")
    source = io.BytesIO(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the caller compares the size itself
            with Image.open(source) as image:
                return image.size
    except Image.DecompressionBombError as error:
        more_than = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise ImageTooLargeError(f"{name}: more than {more_than} pixels ({error})", more_than) from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        detail = str(error).replace(f" {source!r}", "")
        raise ImageDecodeError(
            f"{name}: not a readable image ({detail}); send the bytes of a JPEG, PNG or other image file"
        ) from error


def channel_spread(image: torch.Tensor) -> torch.Tensor:
    """0-dim float tensor, on the image's device: mean max-min channel spread (8-bit levels) of a (3, H, W)
    uint8 image, sampled on a grid of about 64 x 64 pixels."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"image must have shape (3, H, W), got {tuple(image.shape)}")
    small = image[:, :: max(1, image.shape[1] // 64), :: max(1, image.shape[2] // 64)].float()
    return (small.amax(dim=0) - small.amin(dim=0)).mean()


def is_grey(image: torch.Tensor, tolerance: float = GREY_TOLERANCE) -> bool:
    """True when a (3, H, W) uint8 image has (almost) equal channels: mean max-min spread <= tolerance."""
    return channel_spread(image).item() <= tolerance


def read_plain_jpeg(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, int, int] | None:
    """(bytes as a (N,) uint8 array, width, height) of a JPEG that `torchvision.io.decode_jpeg` decodes as
    `decode_image` does: 3-channel 8-bit, no EXIF rotation, ending in its end-of-image marker. None for any other
    file (PNG, grey or CMYK JPEG, EXIF-rotated, truncated, ...), which `decode_image` must read.

    Only the header is parsed, no pixels are decoded. Raises ImageDecodeError as `decode_image` does for a
    missing, unreadable, non-image or too large (> `max_pixels`) file.
    """
    name = str(path)
    with _named_errors(path, name, FILE_REMEDY):
        data = np.fromfile(path, dtype=np.uint8)
    buffer = io.BytesIO(data)
    with _named_errors(buffer, name, FILE_REMEDY), Image.open(buffer) as image:
        _check_size(image, name, max_pixels)
        plain = image.format == "JPEG" and image.mode == "RGB" and image.getexif().get(EXIF_ORIENTATION, 1) == 1
        ends = data.size >= 2 and data[-2] == 0xFF and data[-1] == 0xD9
        return (data, *image.size) if plain and ends else None
