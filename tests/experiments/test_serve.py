"""End to end: the registered model behind `mlflow models serve`, a real process on 127.0.0.1
(the session's `server` fixture in conftest.py): correct answers, bad requests, bounded load."""

import base64
import io
import json
import time

import pytest
from PIL import Image

from pseudocolor.experiments.scripts.load_test import format_summary, request_body, run_load, sample_jpegs, summarize
from tests.conftest import write_photo
from tests.serve_helpers import assert_colourised, invoke, invoke_raw

LOAD_REQUESTS, LOAD_CONCURRENCY = 200, 16
LOAD_TIME_LIMIT_S = 240  # measured: about 3-4 s for the whole load on 2 busy cores


@pytest.mark.slow
def test_a_jpeg_comes_back_as_a_png_of_the_same_size_and_lightness(server, tmp_path):
    source = write_photo(tmp_path / "photo.jpg", height=90, width=150, quality=92).read_bytes()

    start = time.perf_counter()
    status, answer = invoke(server, source)
    print(f"one 150x90 JPEG served in {1000 * (time.perf_counter() - start):.0f} ms")

    assert status == 200
    assert_colourised(answer["predictions"][0], source)


@pytest.mark.slow
def test_bad_payloads_get_400_with_a_reason_and_the_server_keeps_serving(server, tmp_path):
    too_large = io.BytesIO()
    Image.new("RGB", (400, 300)).save(too_large, format="PNG")  # 120 000 pixels > the registered 100 000
    bad = {
        b"this is not an image": "not a readable image",
        b"": "empty",
        too_large.getvalue(): "exceeds the limit of 100000",
    }
    for payload, reason in bad.items():
        status, answer = invoke(server, payload)
        assert status == 400, answer
        assert reason in answer["message"]

    status, _ = invoke(server, write_photo(tmp_path / "after.jpg").read_bytes())
    assert status == 200


@pytest.mark.slow
def test_malformed_requests_get_400_naming_the_problem_and_the_server_keeps_serving(server, tmp_path):
    image = base64.b64encode(write_photo(tmp_path / "photo.jpg").read_bytes()).decode("ascii")
    wrong_column = {"dataframe_split": {"columns": ["picture"], "data": [[image]]}}
    malformed = {
        b"this is not JSON": "valid JSON",
        json.dumps({"data": [[image]]}).encode(): "dataframe_split",
        json.dumps(wrong_column).encode(): "missing inputs ['image']",
    }
    for body, reason in malformed.items():
        status, answer = invoke_raw(server, body)
        assert status == 400, answer
        assert reason in answer["message"], answer["message"]

    source = write_photo(tmp_path / "after.jpg", height=64, width=80, seed=3).read_bytes()
    status, answer = invoke(server, source)
    assert status == 200
    assert_colourised(answer["predictions"][0], source)


@pytest.mark.slow
def test_a_bounded_concurrent_load_gets_only_correct_answers(server):
    jpegs = sample_jpegs()  # three real photos, 128, 96 and 64 px on the longer side
    bodies = [request_body(jpeg) for jpeg in jpegs]

    answers, seconds = run_load(server, bodies, LOAD_REQUESTS, LOAD_CONCURRENCY, time_limit_s=LOAD_TIME_LIMIT_S)
    print(format_summary(summarize(answers, seconds), LOAD_CONCURRENCY, seconds))

    assert len(answers) == LOAD_REQUESTS
    for answer in answers:
        assert answer.status == 200, f"request {answer.index}: {answer.error}"
        (prediction,) = json.loads(answer.body)["predictions"]
        assert_colourised(prediction, jpegs[answer.index % len(jpegs)])
