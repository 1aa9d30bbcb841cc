"""The load-test script's own logic, without a server: URL policy, flags, the hostile requests and how they are
mixed in, and the summary figures."""

import base64
import io
import json
from collections import Counter

import pytest
from PIL import Image

from pseudocolor.experiments.scripts.load_test import (
    NORMAL,
    Answer,
    check_loopback,
    format_classes,
    hostile_bodies,
    main,
    schedule,
    summarize,
    summarize_classes,
)

LOOPBACK = ["http://127.0.0.1:5001/", "http://localhost:5001", "http://[::1]:5001", "https://127.0.0.2"]
ELSEWHERE = ["http://10.0.0.1:5001", "http://example.com", "http://localhost.example.com", "ftp://127.0.0.1", "::1"]


@pytest.mark.parametrize("url", LOOPBACK)
def test_loopback_urls_are_accepted(url):
    assert check_loopback(url) == url.rstrip("/")


@pytest.mark.parametrize("url", ELSEWHERE)
def test_other_urls_are_refused_before_anything_is_sent(url, capsys):
    assert main(["--url", url, "--requests", "1"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "is not an http(s) URL on a loopback address" in error


def test_bad_counts_are_refused(capsys):
    assert main(["--requests", "0"]) == 2
    assert "--requests and --concurrency must be at least 1" in capsys.readouterr().err


def test_summary_counts_failures_and_takes_percentiles_over_ok_answers():
    answers = [Answer(i, 200, b"", (i + 1) / 1000) for i in range(100)] + [Answer(100, 400, b"", 5.0, "HTTP 400")]
    stats = summarize(answers, seconds=2.0)
    assert (stats["ok"], stats["failed"]) == (100, 1)
    assert stats["p50_ms"] == pytest.approx(50.5) and stats["max_ms"] == pytest.approx(100)
    assert stats["requests_per_s"] == pytest.approx(50.5)


def test_hostile_requests_are_spread_evenly_and_taken_in_turn():
    classes = schedule(200, 0.1, ["a", "b", "c", "d"])
    hostile = [kind for kind in classes if kind != NORMAL]
    assert len(hostile) == 20 and hostile[:5] == ["a", "b", "c", "d", "a"] and Counter(hostile) == {k: 5 for k in "abcd"}
    assert max(len(run) for run in "".join("n" if kind == NORMAL else "h" for kind in classes).split("h")) <= 10
    assert schedule(5, 0.0, ["a"]) == [NORMAL] * 5 and schedule(3, 1.0, ["a"]) == ["a"] * 3


def test_the_hostile_bodies_are_those_of_issue_19_and_small_on_the_wire():
    bodies = hostile_bodies()
    assert list(bodies) == ["12 x flat 4000x4000 PNG", "400 rows of 64x48", "200 regions", "10,000 hints"]
    shapes = {}
    for name, body in bodies.items():
        assert len(body) < 3_000_000, (name, len(body))
        split = json.loads(body)["dataframe_split"]
        shapes[name] = (split["columns"], len(split["data"]))
    assert shapes["12 x flat 4000x4000 PNG"] == (["image"], 12) and shapes["400 rows of 64x48"] == (["image"], 400)
    regions = json.loads(json.loads(bodies["200 regions"])["dataframe_split"]["data"][0][1])
    hints = json.loads(bodies["10,000 hints"])["dataframe_split"]["data"][0][1].split(";")
    assert len(regions) == 200 and len(hints) == 10_000
    image = base64.b64decode(json.loads(bodies["12 x flat 4000x4000 PNG"])["dataframe_split"]["data"][0][0])
    assert Image.open(io.BytesIO(image)).size == (4000, 4000)


def test_per_class_report_counts_answers_and_what_was_unexpected():
    answers = [Answer(0, 200, b"", 0.1), Answer(1, 400, b"", 0.002), Answer(2, 200, b"", 0.3), Answer(3, 200, b"", 5.0)]
    answers += [Answer(4, 0, b"", 60.0, "no answer"), Answer(5, 504, b"", 60.0)]
    classes = [NORMAL, "rows", NORMAL, "rows", NORMAL, "hints"]
    report = summarize_classes(answers, classes)
    assert list(report) == [NORMAL, "rows", "hints"]
    assert report[NORMAL]["answers"] == {0: 1, 200: 2} and report[NORMAL]["unexpected"] == 1
    assert report[NORMAL]["p50_ms"] == pytest.approx(200)  # over the answers that came: 100 and 300 ms
    assert report["rows"]["answers"] == {200: 1, 400: 1} and report["rows"]["unexpected"] == 1  # a hostile 200
    assert report["hints"]["unexpected"] == 1  # a 504 is no refusal
    lines = format_classes(report)
    assert lines[1] == "rows: 2 requests, answers {200: 1, 400: 1}, ms p50 2501, p99 4950, max 5000; 1 unexpected"


def test_a_bad_hostile_fraction_is_refused(capsys):
    assert main(["--hostile-fraction", "1.5"]) == 2
    assert "--hostile-fraction must lie in [0, 1], got 1.5" in capsys.readouterr().err
