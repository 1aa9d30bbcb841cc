"""The optional guidance columns of a serving request -> one `Guidance` per row.

Columns, all optional; a missing column or a null, NaN or empty value means automatic colouring:
    hints: point hints 'X,Y,#RRGGBB' separated by ';', X and Y in pixels of the row's image (the syntax of
        `pseudocolor colorize --hint`, parsed by `hints.parse_hint`).
    reference: base64 text of image bytes whose colours guide the whole image (`colorize --reference`); pixels
        of a PNG or WebP with alpha 0 give no colour.
    regions: JSON text, a list of {"mask": base64 PNG of the image's size (nonzero = inside), "reference":
        base64 image}; each region is coloured from its reference (`colorize --region MASK=REF`).
    blend: how regions meet the background, 'poisson' (default) or 'feather'.
    reference_mode: how references give colour, 'transfer' (default) or 'histogram' (`colorize --reference-mode`).
Every bad value raises RequestError naming the row and column and what to send instead.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping

import pandas as pd
import torch

from pseudocolor.datamodules.decoding import decode_image_bytes
from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.datamodules.masks import MaskLoadError, decode_mask_bytes
from pseudocolor.lightning_modules.guided.guidance import Guidance
from pseudocolor.lightning_modules.guided.hints import parse_hint
from pseudocolor.lightning_modules.guided.regions import (
    REFERENCE_MODES,
    PointHint,
    Region,
    check_hints,
    prepare_reference,
)

HINTS_COLUMN, REFERENCE_COLUMN, REGIONS_COLUMN, BLEND_COLUMN = "hints", "reference", "regions", "blend"
REFERENCE_MODE_COLUMN = "reference_mode"
GUIDE_COLUMNS = (HINTS_COLUMN, REFERENCE_COLUMN, REGIONS_COLUMN, BLEND_COLUMN, REFERENCE_MODE_COLUMN)
BLENDS = ("poisson", "feather")
HINT_SEPARATOR = ";"


class RequestError(PseudocolorError):
    """A request value that cannot be used; the message names its row and column and what to send."""


def is_missing(value: object) -> bool:
    """None, NaN and pd.NA (pandas' missing values) and empty text or bytes all mean "not given"."""
    if isinstance(value, str | bytes | bytearray):
        return len(value) == 0
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def to_bytes(value: object, name: str) -> bytes:
    """Bytes as the server decoded them, or base64 text (inside JSON, or from callers bypassing the signature)."""
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as error:
            raise RequestError(f"{name}: not valid base64 ({error}); send base64-encoded image bytes") from error
    if not isinstance(value, bytes | bytearray):
        raise RequestError(f"{name}: expected image bytes, got {type(value).__name__}; send base64-encoded image bytes")
    return bytes(value)


def _text(value: object, name: str, example: str) -> str:
    if not isinstance(value, str):
        raise RequestError(f"{name}: expected text, got {type(value).__name__}; send a string such as {example}")
    return value


def hint_pieces(value: object, name: str) -> list[str]:
    """A `hints` value -> its 'X,Y,#RRGGBB' pieces, unparsed (empty pieces dropped)."""
    pieces = _text(value, name, "'120,45,#3a7bd5;30,60,#c0392b'").split(HINT_SEPARATOR)
    return [piece for piece in pieces if piece.strip()]


def _hints(value: object, name: str, size: tuple[int, int]) -> list[PointHint]:
    try:
        points = [parse_hint(piece) for piece in hint_pieces(value, name)]
        check_hints(points, size)
    except PseudocolorError as error:
        raise RequestError(f"{name}: {error}; give X,Y,#RRGGBB hints inside the image, separated by ';'") from error
    return points


def _reference(value: object, name: str, max_pixels: int) -> torch.Tensor:
    """A reference picture's bytes -> (3, h, w) RGB or (4, h, w) RGBA uint8, checked that it can give colour."""
    try:
        reference = decode_image_bytes(to_bytes(value, name), max_pixels, name, alpha=True)
        prepare_reference(reference, name=name)
    except PseudocolorError as error:
        raise RequestError(str(error)) from error
    return reference


def region_items(value: object, name: str) -> list[dict]:
    """A `regions` value -> its list of {"mask": ..., "reference": ...} objects, both keys checked present, their
    images not decoded."""
    example = '[{"mask": "<base64 PNG>", "reference": "<base64 image>"}]'
    try:
        items = json.loads(_text(value, name, example))
    except json.JSONDecodeError as error:
        raise RequestError(f"{name}: not valid JSON ({error}); send a JSON list such as {example}") from error
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise RequestError(f"{name}: expected a JSON list of objects; send a list such as {example}")
    for index, item in enumerate(items):
        missing = [key for key in ("mask", "reference") if key not in item]
        if missing:
            raise RequestError(f"{name}, region {index}: no {' or '.join(missing)}; give every region both keys")
    return items


def region_names(name: str, index: int) -> tuple[str, str]:
    """How messages name region `index` of the `regions` value called `name`: (its mask, its reference)."""
    return f"{name}, region {index} mask", f"{name}, region {index} reference"


def _regions(value: object, name: str, size: tuple[int, int], max_pixels: int) -> list[Region]:
    regions = []
    for index, item in enumerate(region_items(value, name)):
        mask_name, reference_name = region_names(name, index)
        try:
            mask = decode_mask_bytes(to_bytes(item["mask"], mask_name), size, mask_name)
        except MaskLoadError as error:
            raise RequestError(str(error)) from error
        regions.append(Region(mask, _reference(item["reference"], reference_name, max_pixels), name=mask_name))
    return regions


def given_columns(values: Mapping[str, object]) -> dict[str, object]:
    """One row's guidance values (absent keys allowed) -> those given (not missing, see `is_missing`)."""
    return {column: values.get(column) for column in GUIDE_COLUMNS if not is_missing(values.get(column))}


def cell_name(row: int, column: str) -> str:
    """How messages name one value of the request: "row 3 of column 'hints'"."""
    return f"row {row} of column '{column}'"


def parse_row_guide(
    values: Mapping[str, object], row: int, size: tuple[int, int], max_reference_pixels: int
) -> Guidance:
    """One row's guidance columns (absent keys allowed) for an image of `size` (H, W) -> Guidance.

    References are refused above `max_reference_pixels`; masks must have the image's size and select a pixel.
    """
    given = given_columns(values)
    name = {column: cell_name(row, column) for column in GUIDE_COLUMNS}
    guide = Guidance()
    if HINTS_COLUMN in given:
        guide.hints = _hints(given[HINTS_COLUMN], name[HINTS_COLUMN], size)
    if REFERENCE_COLUMN in given:
        guide.reference = _reference(given[REFERENCE_COLUMN], name[REFERENCE_COLUMN], max_reference_pixels)
    if REGIONS_COLUMN in given:
        guide.regions = _regions(given[REGIONS_COLUMN], name[REGIONS_COLUMN], size, max_reference_pixels)
    if BLEND_COLUMN in given:
        blend = given[BLEND_COLUMN]
        if blend not in BLENDS:
            raise RequestError(f"{name[BLEND_COLUMN]}: unknown blend {blend!r}; send 'poisson' or 'feather'")
        guide.blend = blend
    if REFERENCE_MODE_COLUMN in given:
        mode = given[REFERENCE_MODE_COLUMN]
        if mode not in REFERENCE_MODES:
            raise RequestError(
                f"{name[REFERENCE_MODE_COLUMN]}: unknown reference mode {mode!r}; send 'transfer' or 'histogram'"
            )
        guide.reference_mode = mode
    return guide
