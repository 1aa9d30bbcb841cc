"""The zoo of awkward and broken photo files that training and evaluation must survive, written as real files,
each with what must happen to it; and a way to make file permissions bind even when the tests run as root."""

from __future__ import annotations

import contextlib
import ctypes
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pseudocolor.datamodules.decoding import DEFAULT_MAX_PIXELS
from pseudocolor.datamodules.image_dataset import MIN_SIDE, SKIP_BAD, SKIP_GREY
from tests.conftest import colourful_array, write_grey_photo, write_photo

USED = "used"


@dataclass(frozen=True)
class ZooFile:
    """`outcome` is USED, SKIP_BAD or SKIP_GREY; `reason` is what the skip reason of a bad file must contain."""

    path: Path
    outcome: str
    reason: str = ""


def _write_png(path: Path, width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> None:
    """A PNG from raw scanlines (each starting with filter byte 0): for depths and sizes PIL cannot write."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)


def write_zoo(folder: Path) -> list[ZooFile]:
    """Write one file of every awkward kind into `folder` (created) and say what must happen to each.

    Bad: empty, truncated JPEG, text named .jpg, unreadable (mode 000: see `file_permissions_enforced`),
    a 1-bit PNG just over DEFAULT_MAX_PIXELS (5 kB on disk: a decompression bomb), a 1x1 photo.
    Grey: an 8-bit and a 16-bit grey photo. Used: RGBA, palette, 16-bit RGB, CMYK JPEG, EXIF-rotated JPEG,
    20x30 (smaller than any crop) and MIN_SIDE x 40.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rgb = Image.fromarray(colourful_array(48, 64, seed=5))
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(write_photo(folder / "whole.tmp.jpg", 200, 200).read_bytes()[:800])
    (folder / "whole.tmp.jpg").unlink()
    (folder / "text.jpg").write_text("this is a text file, not a photo\n")
    write_photo(folder / "locked.jpg", seed=6).chmod(0)
    width, height = 8000, DEFAULT_MAX_PIXELS // 8000 + 1  # one 1-bit grey row is a filter byte + 1000 bytes
    _write_png(folder / "bomb.png", width, height, 1, 0, bytes(1 + width // 8) * height)
    write_photo(folder / "one_pixel.png", 1, 1)
    write_grey_photo(folder / "grey.jpg")
    grey16 = np.asarray(rgb.convert("L"), dtype=np.uint16) * 257
    Image.fromarray(grey16).save(folder / "grey_16bit.png")
    rgb.convert("RGBA").save(folder / "alpha.png")
    rgb.convert("P").save(folder / "palette.png")
    rgb16 = np.asarray(rgb, dtype=">u2") * 257
    _write_png(folder / "colour_16bit.png", 64, 48, 16, 2, b"".join(b"\0" + row.tobytes() for row in rgb16))
    rgb.convert("CMYK").save(folder / "cmyk.jpg")
    exif = rgb.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    rgb.save(folder / "exif_rotated.jpg", exif=exif)
    write_photo(folder / "small.jpg", 20, 30, seed=7)
    write_photo(folder / "thin.png", MIN_SIDE, 40, seed=8)
    return [
        ZooFile(folder / "empty.jpg", SKIP_BAD, "not a readable image"),
        ZooFile(folder / "truncated.jpg", SKIP_BAD, "not a readable image"),
        ZooFile(folder / "text.jpg", SKIP_BAD, "not a readable image"),
        ZooFile(folder / "locked.jpg", SKIP_BAD, "permission denied"),
        ZooFile(folder / "bomb.png", SKIP_BAD, "decompression bomb"),
        ZooFile(folder / "one_pixel.png", SKIP_BAD, f"below the minimum side of {MIN_SIDE}"),
        ZooFile(folder / "grey.jpg", SKIP_GREY),
        ZooFile(folder / "grey_16bit.png", SKIP_GREY),
        *(ZooFile(folder / name, USED) for name in ("alpha.png", "palette.png", "colour_16bit.png", "cmyk.jpg")),
        *(ZooFile(folder / name, USED) for name in ("exif_rotated.jpg", "small.jpg", "thin.png")),
    ]


CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2
_CAPABILITY_VERSION_3 = 0x20080522


@contextlib.contextmanager
def file_permissions_enforced():
    """Make file permissions bind in this thread for the block, as they do for any user but root.

    Root reads a mode-000 file through two capabilities; this drops them from the calling thread's effective
    set (the kernel then really refuses the open) and restores them afterwards. Decoding must run in this
    thread (num_workers=0). Skips the test where the capabilities cannot be changed.
    """
    if os.geteuid() != 0:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)  # pid 0: the calling thread
    caps = (ctypes.c_uint32 * 6)()  # (effective, permitted, inheritable) x (bits 0-31, bits 32-63)
    if libc.capget(header, caps) != 0:
        pytest.skip(f"cannot read this thread's capabilities (errno {ctypes.get_errno()})")
    saved = list(caps)
    caps[0] &= ~((1 << CAP_DAC_OVERRIDE) | (1 << CAP_DAC_READ_SEARCH))
    if libc.capset(header, caps) != 0:
        pytest.skip(f"cannot drop root's read-any-file capabilities (errno {ctypes.get_errno()})")
    try:
        yield
    finally:
        caps[:] = saved
        libc.capset(header, caps)
