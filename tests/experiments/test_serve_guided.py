"""Guided colouring through the real `mlflow models serve` process (the session's `server` fixture):
the optional `hints`, `reference`, `regions`, `blend` and `reference_mode` columns, and a 400 naming each bad
value."""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import colourful_array, write_photo
from tests.serve_helpers import assert_colourised, invoke, invoke_guided, invoke_raw

HEIGHT, WIDTH = 90, 150
HINT = (30, 40)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _encoded(array: np.ndarray, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=image_format)
    return buffer.getvalue()


def _mask(height: int = HEIGHT, width: int = WIDTH, top_rows: int = HEIGHT // 2) -> bytes:
    """A PNG mask whose `top_rows` top rows are inside."""
    mask = np.zeros((height, width), np.uint8)
    mask[:top_rows] = 255
    return _encoded(mask)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("guided") / "photo.jpg"
    return write_photo(path, height=HEIGHT, width=WIDTH, quality=92).read_bytes()


@pytest.fixture(scope="module")
def reference() -> bytes:
    return _encoded(colourful_array(40, 60, seed=5), "JPEG")


@pytest.mark.slow
def test_a_point_hint_colours_its_pixel_spreads_and_keeps_size_and_lightness(server, photo):
    status, automatic = invoke(server, photo)
    assert status == 200
    status, guided = invoke_guided(server, photo, hints=f"{HINT[0]},{HINT[1]},#ff0000")
    assert status == 200

    before = assert_colourised(automatic["predictions"][0], photo).astype(int)
    after = assert_colourised(guided["predictions"][0], photo).astype(int)
    # a red click on this smooth photo spreads over it (hint_spreading; its edge stops: test_hint_spreading.py)
    red = (after[HINT[1], HINT[0], 0] - after[HINT[1], HINT[0], 1:].mean()) - (
        before[HINT[1], HINT[0], 0] - before[HINT[1], HINT[0], 1:].mean()
    )
    assert red > 20, "the hinted pixel did not turn redder"
    assert np.abs(after - before).max(axis=2).mean() > 5, "the hint did not spread"


@pytest.mark.slow
@pytest.mark.parametrize("blend", [None, "poisson", "feather"])
def test_a_reference_and_regions_colour_the_photo_at_its_size_and_lightness(server, photo, reference, blend):
    regions = json.dumps([{"mask": _b64(_mask()), "reference": _b64(reference)}])
    columns = {"reference": _b64(reference), "regions": regions, "hints": "10,80,#3a7bd5"}
    status, answer = invoke_guided(server, photo, **columns, **({"blend": blend} if blend else {}))
    assert status == 200, answer
    assert_colourised(answer["predictions"][0], photo)


@pytest.mark.slow
def test_a_red_region_reference_is_transferred_and_its_transparent_part_ignored(server, photo):
    """reference_mode transfer (the default) makes the region take the reference's red; histogram (the old path)
    reaches the network only; an RGBA reference whose red half is transparent gives its opaque green instead."""
    red = np.zeros((40, 60, 4), np.uint8)
    red[...] = (214, 65, 58, 255)
    half_clear = red.copy()
    half_clear[:, :30, 3] = 0
    half_clear[:, 30:] = (40, 160, 110, 255)
    _, automatic = invoke(server, photo)
    redness = {}
    for name, reference, mode in [("transfer", red, None), ("histogram", red, "histogram"), ("clear", half_clear, None)]:
        regions = json.dumps([{"mask": _b64(_mask()), "reference": _b64(_encoded(reference))}])
        status, answer = invoke_guided(server, photo, regions=regions, **({"reference_mode": mode} if mode else {}))
        assert status == 200, answer
        coloured = assert_colourised(answer["predictions"][0], photo).astype(int)
        before = assert_colourised(automatic["predictions"][0], photo).astype(int)
        top = slice(0, HEIGHT // 2)
        redness[name] = (coloured[top, :, 0] - coloured[top, :, 1]).mean() - (before[top, :, 0] - before[top, :, 1]).mean()
    assert redness["transfer"] > 40 and redness["transfer"] > redness["histogram"] + 20, redness
    assert redness["clear"] < 0, redness


@pytest.mark.slow
def test_rows_with_and_without_guidance_mix_in_one_request(server, photo, reference):
    small = _encoded(colourful_array(48, 64, seed=2), "JPEG")
    rows = [[_b64(photo), "10,10,#ff0000", None], [_b64(small), None, ""], [_b64(small), "", _b64(reference)]]
    body = {"dataframe_split": {"columns": ["image", "hints", "reference"], "data": rows}}
    status, answer = invoke_raw(server, json.dumps(body).encode())
    assert status == 200, answer
    for prediction, source in zip(answer["predictions"], [photo, small, small], strict=True):
        assert_colourised(prediction, source)


def _region(mask: bytes | None = None, reference: bytes | None = None) -> str:
    region = {"mask": _b64(mask if mask is not None else _mask())}
    if reference is not None:
        region["reference"] = _b64(reference)
    return json.dumps([region])


JPEG = _encoded(colourful_array(30, 40, seed=4), "JPEG")
BAD_VALUES = {
    "hint syntax": ("hints", "10,10,red", "hint '10,10,red' is not X,Y,#RRGGBB"),
    "hint outside": ("hints", "5,5,#00ff00;200,10,#ff0000", "hint at x=200, y=10 lies outside the 150x90 image"),
    "reference unreadable": ("reference", _b64(b"not an image"), "not a readable image"),
    "reference not base64": ("reference", "@@@", "not valid base64"),
    "regions bad JSON": ("regions", "[{", "not valid JSON"),
    "regions not a list": ("regions", '{"mask": ""}', "expected a JSON list of objects"),
    "region without reference": ("regions", _region(), "region 0: no reference"),
    "mask wrong size": ("regions", _region(_mask(30, 40), JPEG), "region 0 mask: mask is 40x30 pixels but the image"),
    "mask empty": ("regions", _region(_mask(top_rows=0), JPEG), "region 0 mask: mask is empty"),
    "mask unreadable": ("regions", _region(b"not a png", JPEG), "region 0 mask: cannot read this mask"),
    "region reference unreadable": ("regions", _region(_mask(), b"junk"), "region 0 reference: not a readable image"),
    "blend unknown": ("blend", "smooth", "unknown blend 'smooth'"),
    "reference grey": ("reference", _b64(_encoded(np.full((30, 40), 128, np.uint8))), "is grey and has no colour"),
    "reference tiny": ("reference", _b64(_encoded(colourful_array(5, 6, seed=1))), "is 6x5 px, too small"),
    "reference transparent": (
        "reference", _b64(_encoded(np.zeros((30, 40, 4), np.uint8))), "its mask and transparency leave no pixel"
    ),
    "reference mode unknown": ("reference_mode", "copy", "unknown reference mode 'copy'"),
}


@pytest.mark.slow
@pytest.mark.parametrize(("column", "value", "reason"), BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_a_bad_guidance_value_gets_400_naming_its_row_and_column(server, photo, column, value, reason):
    rows = [[_b64(photo), None], [_b64(photo), value]]  # row 0 is fine: the message must name row 1
    body = {"dataframe_split": {"columns": ["image", column], "data": rows}}
    status, answer = invoke_raw(server, json.dumps(body).encode())
    assert status == 400, answer
    assert f"row 1 of column '{column}'" in answer["message"] and reason in answer["message"], answer["message"]
