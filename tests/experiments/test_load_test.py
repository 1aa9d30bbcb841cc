"""The load-test script's own logic, without a server: URL policy, flags and the summary figures."""

import pytest

from pseudocolor.experiments.scripts.load_test import Answer, check_loopback, main, summarize

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
