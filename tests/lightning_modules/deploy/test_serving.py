"""The served pyfunc in-process (what `mlflow models serve` calls, without the HTTP server): every request limit is
refused from headers and text before any pixel is decoded, with a message naming limit, value, place and variable;
the variables raise the limits; rows are coloured in chunks, with the same answer as one batch."""

from __future__ import annotations

import base64
import io
import json
import time
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from PIL import Image

from pseudocolor.lightning_modules.deploy import serving, serving_guide
from pseudocolor.lightning_modules.deploy.serving import CHUNK_ROWS, ColorizerModel, write_serving_config
from pseudocolor.lightning_modules.deploy.serving_limits import DEFAULT_LIMITS, ServingLimits, env_name
from pseudocolor.lightning_modules.inference.model_spec import WEIGHTS_ARTIFACT
from tests.conftest import colourful_array
from tests.deploy_helpers import assert_same_lightness, tiny_colorizer
from tests.serve_helpers import flat_png

HEIGHT, WIDTH = 48, 64  # 3072 pixels


def _encoded(array: np.ndarray, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=image_format)
    return buffer.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


PHOTOS = [_encoded(colourful_array(HEIGHT, WIDTH, seed=seed), "JPEG") for seed in range(8)]
REFERENCE = _encoded(colourful_array(30, 40, seed=9), "JPEG")  # 1200 pixels


def _mask(top: int, bottom: int) -> bytes:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[top:bottom] = 255
    return _encoded(mask)


def _regions(count: int) -> str:
    bands = [(i * HEIGHT // count, (i + 1) * HEIGHT // count) for i in range(count)]
    return json.dumps([{"mask": _b64(_mask(*band)), "reference": _b64(REFERENCE)} for band in bands])


def _hints(count: int) -> str:
    return ";".join(f"{(5 * i) % WIDTH},{(3 * i) % HEIGHT},#c0392b" for i in range(count))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return tiny_colorizer(seed=3).save_weights(tmp_path_factory.mktemp("served") / "weights.pt")


@pytest.fixture
def load(weights, tmp_path, monkeypatch):
    """-> a function: ServingLimits (+ environment variables) -> a ColorizerModel loaded as the server does."""

    def loaded(limits: ServingLimits = DEFAULT_LIMITS, **environ: str) -> ColorizerModel:
        for name in [env_name(field) for field in DEFAULT_LIMITS.to_config()]:
            monkeypatch.delenv(name, raising=False)
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        config = write_serving_config(tmp_path / "config.json", limits)
        model = ColorizerModel()
        model.load_context(types.SimpleNamespace(artifacts={WEIGHTS_ARTIFACT: str(weights), "config": str(config)}))
        return model

    return loaded


def _refusal(model: ColorizerModel, request: pd.DataFrame) -> str:
    with pytest.raises(MlflowException) as error:
        model.predict(None, request)
    assert error.value.error_code == "INVALID_PARAMETER_VALUE"  # the scoring server answers 400
    return error.value.message


def _png(value: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(value))).convert("RGB"))


# limit -> (a tight limit, a request just over it, where the message must point, the request's value)
OVER = {
    "max_pixels": (3000, lambda: pd.DataFrame({"image": PHOTOS[:1]}), "row 0 of column 'image'", "3072 pixels (64x48)"),
    "max_request_pixels": (5000, lambda: pd.DataFrame({"image": PHOTOS[:2]}), "row 1 of column 'image'", "6144"),
    "max_rows": (2, lambda: pd.DataFrame({"image": PHOTOS[:3]}), "column 'image'", "3 rows"),
    "max_guided_rows": (
        1,
        lambda: pd.DataFrame({"image": PHOTOS[:2], "hints": [_hints(1)] * 2}),
        "row 1",
        "2 guided rows",
    ),
    "max_regions": (
        1,
        lambda: pd.DataFrame({"image": PHOTOS[:1], "regions": [_regions(2)]}),
        "row 0 of column 'regions'",
        "2 regions",
    ),
    "max_hints": (
        2,
        lambda: pd.DataFrame({"image": PHOTOS[:1], "hints": [_hints(3)]}),
        "row 0 of column 'hints'",
        "3 hints",
    ),
    "max_reference_pixels": (
        1000,
        lambda: pd.DataFrame({"image": PHOTOS[:1], "reference": [_b64(REFERENCE)]}),
        "row 0 of column 'reference'",
        "1200 pixels (40x30)",
    ),
    "max_references": (
        1,
        lambda: pd.DataFrame({"image": PHOTOS[:1], "reference": [_b64(REFERENCE)], "regions": [_regions(1)]}),
        "row 0 of column 'regions', region 0 reference",
        "2 references",
    ),
    "max_mask_pixels": (
        5000,
        lambda: pd.DataFrame({"image": PHOTOS[:1], "regions": [_regions(2)]}),
        "row 0 of column 'regions', region 1 mask",
        "6144 mask pixels",
    ),
}


@pytest.mark.parametrize(("limit", "case"), OVER.items(), ids=OVER.keys())
def test_each_limit_refuses_naming_itself_and_its_variable_which_raises_it(load, limit, case):
    tight, request, where, value = case
    message = _refusal(load(ServingLimits(**{limit: tight})), request())
    assert message.startswith(f"{where}: ") or f"'s {where}: " in message, message
    assert value in message and f"limit of {tight} " in message and f"({limit})" in message, message
    assert f"raise the limit with {env_name(limit)} when serving" in message, message
    assert message.count(". ") == 0 and "\n" not in message  # one sentence

    answer = load(ServingLimits(**{limit: tight}), **{env_name(limit): str(10 * tight)}).predict(None, request())
    assert len(answer) == len(request())


def test_hostile_requests_are_refused_from_their_headers_before_any_pixel_is_decoded(load, monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("decode_image_bytes was called")

    monkeypatch.setattr(serving, "decode_image_bytes", no_decoding)
    monkeypatch.setattr(serving_guide, "decode_image_bytes", no_decoding)
    model = load()
    flat_16mp = flat_png(4000, 4000)
    hostile = {  # each would take from seconds to minutes and gigabytes to decode and colour
        "max_request_pixels": pd.DataFrame({"image": [flat_16mp] * 12}),
        "max_pixels": pd.DataFrame({"image": [flat_png(20000, 20000)]}),  # 400 MP: past PIL's own guard
        "max_rows": pd.DataFrame({"image": PHOTOS[:1] * 400}),
        "max_regions": pd.DataFrame({"image": PHOTOS[:1], "regions": [_regions(200)]}),
        "max_hints": pd.DataFrame({"image": PHOTOS[:1], "hints": [_hints(10_000)]}),
        "max_reference_pixels": pd.DataFrame({"image": PHOTOS[:1], "reference": [_b64(flat_png(5000, 5000))]}),
    }
    for limit, request in hostile.items():
        start = time.perf_counter()
        message = _refusal(model, request)
        seconds = time.perf_counter() - start
        assert f"({limit})" in message and env_name(limit) in message, message
        assert seconds < 1.0, f"{limit}: refused after {seconds:.2f} s"


def test_a_huge_image_is_refused_naming_the_per_image_limit_even_past_pils_guard(load):
    message = _refusal(load(), pd.DataFrame({"image": [flat_png(20000, 20000)]}))
    assert message.startswith("row 0 of column 'image': more than 178956970 pixels"), message
    assert "limit of 16000000 pixels per image (max_pixels)" in message and "PSEUDOCOLOR_MAX_PIXELS" in message


def test_a_request_at_every_limit_is_answered(load):
    limits = ServingLimits(max_rows=3, max_regions=2, max_hints=3, max_references=3, max_guided_rows=2)
    request = pd.DataFrame(
        {
            "image": PHOTOS[:3],
            "hints": [_hints(3), None, ""],
            "reference": [None, _b64(REFERENCE), None],
            "regions": [None, _regions(2), None],
        }
    )
    answer = load(limits).predict(None, request)
    for value, source in zip(answer["image"], PHOTOS[:3], strict=True):
        assert_same_lightness(_png(value), np.asarray(Image.open(io.BytesIO(source)).convert("RGB")))


def test_rows_are_coloured_in_chunks_with_the_answer_of_one_batch(load, monkeypatch):
    model = load()
    rows = 40
    photos = [_encoded(colourful_array(HEIGHT + 8 * (i % 3), WIDTH, seed=i), "JPEG") for i in range(rows)]
    decoded = [serving.decode_image_bytes(photo) for photo in photos]
    one_batch = model.colorizer.colorize_batch(decoded)

    batches = []
    colorize_batch = model.colorizer.colorize_batch
    monkeypatch.setattr(
        model.colorizer, "colorize_batch", lambda images: batches.append(len(images)) or colorize_batch(images)
    )
    answer = model.predict(None, pd.DataFrame({"image": photos}))

    assert batches == [CHUNK_ROWS, CHUNK_ROWS, rows - 2 * CHUNK_ROWS]
    for value, expected in zip(answer["image"], one_batch, strict=True):
        difference = np.abs(_png(value).astype(int) - expected.permute(1, 2, 0).numpy().astype(int))
        assert difference.max() <= 1, difference.max()  # batch size may change float rounding, not the picture


def test_guided_and_automatic_rows_keep_their_order_across_chunks(load):
    rows = CHUNK_ROWS + 4
    photos = [PHOTOS[i % len(PHOTOS)] for i in range(rows)]
    hints = [_hints(1) if i in (3, CHUNK_ROWS + 1) else None for i in range(rows)]
    model = load()
    answer = model.predict(None, pd.DataFrame({"image": photos, "hints": hints}))
    automatic = model.predict(None, pd.DataFrame({"image": photos}))
    for row in range(rows):
        same = np.array_equal(_png(answer["image"][row]), _png(automatic["image"][row]))
        assert same == (hints[row] is None), row


def test_a_bad_value_in_a_later_chunk_is_still_named_by_its_row(load):
    photos = PHOTOS * 3  # 24 rows: the bad one is in the second chunk
    hints = [None] * len(photos)
    hints[20] = "5,5,#00ff00;500,10,#ff0000"
    message = _refusal(load(), pd.DataFrame({"image": photos, "hints": hints}))
    assert message.startswith("row 20 of column 'hints': hint at x=500, y=10 lies outside the 64x48 image"), message


def test_concurrent_requests_colour_one_chunk_at_a_time_and_refusals_do_not_wait(load, monkeypatch):
    model = load()
    inside, most = [], []
    colorize_rows = model._colorize_rows

    def counted(*args):
        inside.append(1)
        most.append(len(inside))
        time.sleep(0.05)
        try:
            return colorize_rows(*args)
        finally:
            inside.pop()

    monkeypatch.setattr(model, "_colorize_rows", counted)
    request = pd.DataFrame({"image": PHOTOS * 3})  # 24 rows: 2 chunks
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: model.predict(None, request), range(4)))
        with model.colouring:  # while a chunk is being coloured, a request over a limit is still refused at once
            refused = pool.submit(_refusal, model, pd.DataFrame({"image": PHOTOS[:1] * 400}))
            assert "(max_rows)" in refused.result(timeout=5)
    assert max(most) == 1 and len(most) == 8
    assert all(answer.equals(answers[0]) for answer in answers)
