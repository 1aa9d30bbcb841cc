"""`python -m pseudocolor.experiments.scripts.load_test --url http://127.0.0.1:5001 --requests 200 --concurrency 16 [--image photo.jpg]`:
a bounded load against a running `mlflow models serve` of the colorizer.

Sends `--requests` POSTs to /invocations (one image each) from `--concurrency` threads, every request with a
timeout and no request started after `--time-limit` seconds, then prints the OK (HTTP 200) and failed counts,
latency percentiles p50/p90/p99/max in ms over the OK answers, and requests/s over the whole run. The images
are `--image` files (repeatable, sent in turn) or, by default, three bundled sample photos shrunk to 128, 96
and 64 px on their longer side. Only loopback URLs are accepted. Exit status: 0 when every answer is OK, 1
when any failed, 2 for a bad flag.
"""

from __future__ import annotations

import argparse
import base64
import io
import ipaddress
import json
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from pseudocolor.datamodules.sample_photos import SAMPLES_DIR

DEFAULT_SIDES = (128, 96, 64)  # longer side of the default sample JPEGs
REQUEST_TIMEOUT_S = 60.0
TIME_LIMIT_S = 300.0


@dataclass(frozen=True)
class Answer:
    """One request's outcome: `status` 0 when no HTTP answer came (timeout, refused, time limit passed)."""

    index: int  # request number; it sent bodies[index % len(bodies)]
    status: int
    body: bytes
    seconds: float
    error: str = ""


def check_loopback(url: str) -> str:
    """An http(s) URL on a loopback address -> the URL without a trailing '/'; anything else raises ValueError."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme not in ("http", "https") or not loopback:
        raise ValueError(
            f"--url {url!r} is not an http(s) URL on a loopback address; point it at a local server such as "
            "http://127.0.0.1:5001"
        )
    return url.rstrip("/")


def request_body(image: bytes) -> bytes:
    """Encoded image bytes -> the JSON body of a one-row `dataframe_split` request."""
    rows = [[base64.b64encode(image).decode("ascii")]]
    return json.dumps({"dataframe_split": {"columns": ["image"], "data": rows}}).encode()


def sample_jpegs(sides: tuple[int, ...] = DEFAULT_SIDES) -> list[bytes]:
    """One JPEG per side: bundled sample photo i shrunk to `sides[i]` pixels on its longer side."""
    photos = sorted(SAMPLES_DIR.glob("*.jpg"))[: len(sides)]
    jpegs = []
    for path, side in zip(photos, sides):
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((side, side))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=90)
        jpegs.append(buffer.getvalue())
    return jpegs


def post(url: str, body: bytes, index: int, timeout_s: float) -> Answer:
    """POST one JSON body to URL/invocations -> its Answer (errors become status 0 with the reason)."""
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return Answer(index, response.status, response.read(), time.perf_counter() - start)
    except urllib.error.HTTPError as error:
        body = error.read()
        reason = f"HTTP {error.code}: {body[-300:].decode(errors='replace')}"
        return Answer(index, error.code, body, time.perf_counter() - start, reason)
    except (urllib.error.URLError, OSError) as error:
        return Answer(index, 0, b"", time.perf_counter() - start, f"no answer ({error})")


def run_load(
    url: str,
    bodies: list[bytes],
    requests: int,
    concurrency: int,
    timeout_s: float = REQUEST_TIMEOUT_S,
    time_limit_s: float = TIME_LIMIT_S,
) -> tuple[list[Answer], float]:
    """Send `requests` POSTs (request i carries bodies[i % len(bodies)]) from `concurrency` threads
    -> (answers in request order, wall-clock seconds). Requests not started within `time_limit_s` are
    answered locally with status 0, so the run lasts at most about time_limit_s + timeout_s."""
    url = check_loopback(url)
    if requests < 1 or concurrency < 1 or not bodies:
        raise ValueError(f"need requests and concurrency >= 1 and a body, got {requests}, {concurrency}, {len(bodies)}")
    start = time.perf_counter()
    deadline = start + time_limit_s

    def send(index: int) -> Answer:
        if time.perf_counter() > deadline:
            return Answer(index, 0, b"", 0.0, f"not sent: the {time_limit_s:g} s time limit had passed")
        return post(url, bodies[index % len(bodies)], index, timeout_s)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        answers = list(pool.map(send, range(requests)))
    return answers, time.perf_counter() - start


def summarize(answers: list[Answer], seconds: float) -> dict[str, float]:
    """-> ok and failed counts, OK latency percentiles p50/p90/p99/max in ms (NaN without OK answers), requests/s."""
    latencies = np.array([1000 * answer.seconds for answer in answers if answer.status == 200])
    ok = len(latencies)
    percentiles = np.percentile(latencies, [50, 90, 99]) if ok else [float("nan")] * 3
    return {
        "ok": ok,
        "failed": len(answers) - ok,
        "p50_ms": float(percentiles[0]),
        "p90_ms": float(percentiles[1]),
        "p99_ms": float(percentiles[2]),
        "max_ms": float(latencies.max()) if ok else float("nan"),
        "requests_per_s": len(answers) / seconds,
    }


def format_summary(stats: dict[str, float], concurrency: int, seconds: float) -> str:
    total = stats["ok"] + stats["failed"]
    return (
        f"{total} requests, {concurrency} concurrent: {stats['ok']} OK, {stats['failed']} failed "
        f"in {seconds:.1f} s ({stats['requests_per_s']:.1f} requests/s); latency ms p50 {stats['p50_ms']:.0f}, "
        f"p90 {stats['p90_ms']:.0f}, p99 {stats['p99_ms']:.0f}, max {stats['max_ms']:.0f}"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pseudocolor.experiments.scripts.load_test", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5001", help="the server (loopback only)")
    parser.add_argument("--requests", type=int, default=200, help="number of requests (default 200)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--image", action="append", type=Path, default=[], help="photo to send (repeatable)")
    parser.add_argument("--timeout", type=float, default=REQUEST_TIMEOUT_S, help="seconds per request (default 60)")
    parser.add_argument(
        "--time-limit", type=float, default=TIME_LIMIT_S, help="no request starts after this many seconds (default 300)"
    )
    return parser


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ValueError(f"--image {path}: cannot be read ({error.strerror}); check the path") from error


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        check_loopback(args.url)
        if args.requests < 1 or args.concurrency < 1:
            raise ValueError(
                f"--requests and --concurrency must be at least 1, got {args.requests} and {args.concurrency}"
            )
        images = [_read(path) for path in args.image] if args.image else sample_jpegs()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    bodies = [request_body(image) for image in images]
    answers, seconds = run_load(args.url, bodies, args.requests, args.concurrency, args.timeout, args.time_limit)
    stats = summarize(answers, seconds)
    print(format_summary(stats, args.concurrency, seconds))
    for reason in sorted({answer.error for answer in answers if answer.status != 200}):
        print(f"failed: {reason}", file=sys.stderr)
    return 0 if stats["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
