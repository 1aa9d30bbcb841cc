"""End to end: the registered model behind `mlflow models serve`, a real process on 127.0.0.1
(the session's `server` fixture in conftest.py): correct answers, bad requests, bounded load."""

import base64
import io
import json
import time

import pytest
from PIL import Image

from pseudocolor.experiments.scripts.load_test import (
    NORMAL,
    format_classes,
    format_summary,
    hostile_bodies,
    request_body,
    run_load,
    sample_jpegs,
    schedule,
    summarize,
    summarize_classes,
)
from pseudocolor.experiments.scripts.server_memory import MemorySampler, listening_pid, server_root
from tests.conftest import write_photo
from tests.serve_helpers import assert_colourised, invoke, invoke_raw

LOAD_REQUESTS, LOAD_CONCURRENCY = 200, 16
LOAD_TIME_LIMIT_S = 240  # measured: about 3-4 s for the whole load on 2 busy cores
HOSTILE_LIMITS = {  # class -> the limit that refuses it (the tiny model is registered with max_pixels 100000)
    "12 x flat 4000x4000 PNG": ("max_pixels", "PSEUDOCOLOR_MAX_PIXELS"),
    "400 rows of 64x48": ("max_rows", "PSEUDOCOLOR_MAX_ROWS"),
    "200 regions": ("max_regions", "PSEUDOCOLOR_MAX_REGIONS"),
    "10,000 hints": ("max_hints", "PSEUDOCOLOR_MAX_HINTS"),
}


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
        too_large.getvalue(): "120000 pixels (400x300) exceed the limit of 100000 pixels per image (max_pixels)",
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


@pytest.mark.slow
def test_each_hostile_request_is_refused_at_once_without_growing_the_server(server):
    sampler = MemorySampler(server_root(listening_pid(int(server.rsplit(":", 1)[1])))).start()
    for kind, body in hostile_bodies().items():
        start = time.perf_counter()
        status, answer = invoke_raw(server, body)
        seconds = time.perf_counter() - start
        print(f"{kind}: {status} in {1000 * seconds:.0f} ms")
        limit, variable = HOSTILE_LIMITS[kind]
        assert status == 400 and f"({limit})" in answer["message"] and variable in answer["message"], answer
        assert seconds < 5, f"{kind}: refused after {seconds:.1f} s"  # the server parses the JSON body first
    sampler.stop()
    print(sampler.report())
    assert sampler.peak_mb - sampler.before_mb < 100, sampler.report()


@pytest.mark.slow
def test_a_load_with_hostile_requests_mixed_in_answers_every_normal_one(server):
    jpegs = sample_jpegs()
    hostile = hostile_bodies()
    classes = schedule(LOAD_REQUESTS, 0.1, list(hostile))
    normal = [request_body(jpeg) for jpeg in jpegs]
    bodies = [hostile.get(kind) or normal[index % len(normal)] for index, kind in enumerate(classes)]

    answers, seconds = run_load(server, bodies, LOAD_REQUESTS, LOAD_CONCURRENCY, time_limit_s=LOAD_TIME_LIMIT_S)
    report = summarize_classes(answers, classes)
    print("\n".join([format_summary(summarize(answers, seconds), LOAD_CONCURRENCY, seconds), *format_classes(report)]))

    assert report[NORMAL]["requests"] == 180 and all(report[kind]["requests"] == 5 for kind in hostile)
    for answer, kind in zip(answers, classes, strict=True):
        if kind == NORMAL:
            assert answer.status == 200, f"request {answer.index}: {answer.error}"
            assert_colourised(json.loads(answer.body)["predictions"][0], jpegs[answer.index % len(jpegs)])
        else:
            assert answer.status == 400, f"{kind}: {answer.error}"
            assert f"({HOSTILE_LIMITS[kind][0]})" in json.loads(answer.body)["message"], answer.error
