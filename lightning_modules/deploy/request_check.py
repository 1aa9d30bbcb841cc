"""Checking a whole serving request against its ServingLimits before any pixel is decoded.

Image sizes come from the headers (`decoding.read_image_size`: PIL reads the header only), hints and regions are
counted from the request's text. A request over a limit raises LimitError, whose one sentence names where (row and
column), the value, the limit and the environment variable that raises it; the served model answers it with a 400
in milliseconds, whatever the images would cost to decode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pseudocolor.datamodules.decoding import ImageDecodeError, ImageTooLargeError, read_image_size
from pseudocolor.lightning_modules.deploy.serving_guide import (
    HINTS_COLUMN,
    REFERENCE_COLUMN,
    REGIONS_COLUMN,
    RequestError,
    cell_name,
    given_columns,
    hint_pieces,
    region_items,
    region_names,
    to_bytes,
)
from pseudocolor.lightning_modules.deploy.serving_limits import ServingLimits, over_limit

IMAGE_COLUMN = "image"


class LimitError(RequestError):
    """A request over one of its ServingLimits; the message names the limit, the value, where, and the variable."""


@dataclass
class _Tally:
    """What the request has asked for so far."""

    limits: ServingLimits
    pixels: int = 0
    references: int = 0
    guided_rows: int = 0
    mask_pixels: int = 0

    def image(self, value: object, name: str, limit: str, unreadable: bool = False) -> int:
        """Check one image's header against the per-image `limit` (a ServingLimits field) and the request's
        total -> its pixels. With `unreadable`, bytes without an image header count 0."""
        try:
            width, height = read_image_size(to_bytes(value, name), name)
        except ImageTooLargeError as error:
            detail = "past PIL's decompression-bomb guard"
            raise LimitError(over_limit(limit, self.limits, name, f"more than {error.more_than}", detail)) from error
        except ImageDecodeError:
            if unreadable:
                return 0
            raise
        pixels = width * height
        if pixels > getattr(self.limits, limit):
            raise LimitError(over_limit(limit, self.limits, name, pixels, f"{width}x{height}"))
        self.pixels += pixels
        if self.pixels > self.limits.max_request_pixels:
            detail = f"the request's images, references and masks up to this {width}x{height} one"
            raise LimitError(over_limit("max_request_pixels", self.limits, name, self.pixels, detail))
        return pixels

    def mask(self, value: object, name: str) -> None:
        """A region's mask: it has its image's size (checked when decoded); bytes without a header count 0, since
        decoding them fails at once with the mask's own message."""
        self.mask_pixels += self.image(value, name, "max_pixels", unreadable=True)
        if self.mask_pixels > self.limits.max_mask_pixels:
            detail = "the request's region masks up to this one"
            raise LimitError(over_limit("max_mask_pixels", self.limits, name, self.mask_pixels, detail))

    def reference(self, value: object, name: str) -> None:
        self.references += 1
        if self.references > self.limits.max_references:
            detail = "whole-image and region references of the request up to this one"
            raise LimitError(over_limit("max_references", self.limits, name, self.references, detail))
        self.image(value, name, "max_reference_pixels")


def check_request(images: Sequence[object], guides: Sequence[Mapping[str, object]], limits: ServingLimits) -> int:
    """The `image` values of a request and each row's guidance values (absent keys allowed) -> the pixels the
    request decodes, once checked against `limits` from headers and text alone.

    Raises LimitError for a request over a limit, and RequestError (as decoding would) for a value that cannot be
    read at all (not base64, no image header, regions that are not a JSON list of mask/reference objects).
    """
    if len(images) > limits.max_rows:
        raise LimitError(over_limit("max_rows", limits, f"the request's column '{IMAGE_COLUMN}'", len(images)))
    tally = _Tally(limits)
    for row, (value, values) in enumerate(zip(images, guides, strict=True)):
        tally.image(value, cell_name(row, IMAGE_COLUMN), "max_pixels")
        given = given_columns(values)
        hints = hint_pieces(given[HINTS_COLUMN], cell_name(row, HINTS_COLUMN)) if HINTS_COLUMN in given else []
        if len(hints) > limits.max_hints:
            raise LimitError(over_limit("max_hints", limits, cell_name(row, HINTS_COLUMN), len(hints)))
        name = cell_name(row, REGIONS_COLUMN)
        regions = region_items(given[REGIONS_COLUMN], name) if REGIONS_COLUMN in given else []
        if len(regions) > limits.max_regions:
            raise LimitError(over_limit("max_regions", limits, name, len(regions)))
        if hints or regions or REFERENCE_COLUMN in given:
            tally.guided_rows += 1
            if tally.guided_rows > limits.max_guided_rows:
                where = f"row {row}"
                detail = "rows with hints, a reference or regions up to this one"
                raise LimitError(over_limit("max_guided_rows", limits, where, tally.guided_rows, detail))
        if REFERENCE_COLUMN in given:
            tally.reference(given[REFERENCE_COLUMN], cell_name(row, REFERENCE_COLUMN))
        for index, item in enumerate(regions):
            mask_name, reference_name = region_names(name, index)
            tally.mask(item["mask"], mask_name)
            tally.reference(item["reference"], reference_name)
    return tally.pixels
