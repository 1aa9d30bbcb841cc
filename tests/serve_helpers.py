"""Requests to a served colorizer and checks of its answers, for the serve tests (real server, no mocks)."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib

import numpy as np
from PIL import Image

from pseudocolor.datamodules.decoding import decode_image_bytes
from pseudocolor.experiments.scripts.load_test import post, request_body
from tests.deploy_helpers import assert_same_lightness

TIMEOUT_S = 60


def invoke_raw(url: str, body: bytes) -> tuple[int, dict]:
    """POST a raw request body -> (HTTP status, decoded JSON answer)."""
    answer = post(url, body, 0, TIMEOUT_S)
    assert answer.status, answer.error
    return answer.status, json.loads(answer.body)


def invoke(url: str, payload: bytes) -> tuple[int, dict]:
    """POST one image (raw bytes, base64-encoded here) -> (HTTP status, decoded JSON answer)."""
    return invoke_raw(url, request_body(payload))


def invoke_guided(url: str, payload: bytes, **columns: object) -> tuple[int, dict]:
    """POST one image with guidance columns (hints="...", reference="<base64>", ...) -> (status, JSON answer)."""
    names = ["image", *columns]
    row = [base64.b64encode(payload).decode("ascii"), *columns.values()]
    return invoke_raw(url, json.dumps({"dataframe_split": {"columns": names, "data": [row]}}).encode())


def png_array(prediction: dict) -> np.ndarray:
    """One `{"image": "<base64 PNG>"}` prediction -> (H, W, 3) uint8 RGB; asserts it is a PNG."""
    png = Image.open(io.BytesIO(base64.b64decode(prediction["image"])))
    assert png.format == "PNG", png.format
    return np.asarray(png.convert("RGB"))


def assert_colourised(prediction: dict, source: bytes) -> np.ndarray:
    """The prediction is a PNG of the source image's size with its lightness -> (H, W, 3) uint8 RGB."""
    output, original = png_array(prediction), decode_image_bytes(source)
    assert output.shape[:2] == tuple(original.shape[-2:]), (output.shape, tuple(original.shape))
    assert_same_lightness(output, original)
    return output


def flat_png(width: int, height: int) -> bytes:
    """A flat black 1-bit PNG of any size, built row by row: bytes on the wire grow about 1000 times slower than
    the pixels PIL would decode (20000 x 20000: 50 kB, 1.2 GB as RGB)."""
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed pixels
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
