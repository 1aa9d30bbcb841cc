"""`python -m pseudocolor.experiments.scripts.load_test --url http://127.0.0.1:5001 --requests 200 --concurrency 16 [--image photo.jpg] [--hostile-fraction 0.1] [--server-pid PID]`:
a bounded load against a running `mlflow models serve` of the colorizer.

Sends `--requests` POSTs to /invocations (one image each) from `--concurrency` threads, every request with a
timeout and no request started after `--time-limit` seconds, then prints the OK (HTTP 200) and failed counts,
latency percentiles p50/p90/p99/max in ms over the OK answers, and requests/s over the whole run. The images
are `--image` files (repeatable, sent in turn) or, by default, three bundled sample photos shrunk to 128, 96
and 64 px on their longer side. Only loopback URLs are accepted.

With `--hostile-fraction F`, that fraction of the requests (spread evenly, the kinds in turn) are the hostile ones
of issue 19 (HOSTILE: 12 rows of flat 4000x4000 PNGs, 400 rows of 64x48 photos, 200 regions on one photo,
10,000 hints), which a served model must refuse with a 4xx; then it also prints, per class, the answers (status
counts) and p50/p99 time of all answers. With the server's process found (`--server-pid`, else the process
listening on the URL's port), it prints the tree's resident memory before and at its peak during the load.
Exit status: 0 when every normal answer is a 200 and every hostile one a 4xx, 1 otherwise, 2 for a bad flag.
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
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from pseudocolor.datamodules.sample_photos import SAMPLES_DIR

if TYPE_CHECKING:
    from pseudocolor.experiments.scripts.server_memory import MemorySampler

DEFAULT_SIDES = (128, 96, 64)  # longer side of the default sample JPEGs
REQUEST_TIMEOUT_S = 60.0
TIME_LIMIT_S = 300.0
NORMAL = "normal"


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
    return columns_body({"image": [image]})


def columns_body(columns: dict[str, list[object]]) -> bytes:
    """Column name -> one value per row (bytes are sent as base64 text) -> a `dataframe_split` JSON body."""
    names = list(columns)
    rows = [
        [base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value for value in values]
        for values in zip(*columns.values(), strict=True)
    ]
    return json.dumps({"dataframe_split": {"columns": names, "data": rows}}).encode()


def flat_png(side: int) -> bytes:
    """A flat grey side x side PNG: a few kB on the wire, side^2 pixels once decoded."""
    buffer = io.BytesIO()
    Image.new("L", (side, side), 128).save(buffer, format="PNG")
    return buffer.getvalue()


def encoded(array: np.ndarray, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=image_format)
    return buffer.getvalue()


def regions_value(height: int, width: int, count: int, reference: bytes) -> str:
    """A `regions` value: `count` horizontal bands of a height x width image, each coloured from `reference`."""
    items = []
    for index in range(count):
        mask = np.zeros((height, width), np.uint8)
        mask[index * height // count : (index + 1) * height // count + 1] = 255
        items.append({"mask": base64.b64encode(encoded(mask)).decode(), "reference": base64.b64encode(reference).decode()})
    return json.dumps(items)


def hints_value(height: int, width: int, count: int) -> str:
    """A `hints` value: `count` hints spread over a height x width image, of varied colours."""
    return ";".join(f"{(7 * i) % width},{(13 * i) % height},#{(i * 2654435761) % 0xFFFFFF:06x}" for i in range(count))


def hostile_requests(photo: bytes, reference: bytes) -> dict[str, Callable[[], dict[str, list[object]]]]:
    """Class name -> a builder of its columns: the hostile requests of issue 19, each under 3 MB on the wire;
    `photo` is a small (64x48) encoded photo, `reference` any colourful picture."""
    with Image.open(io.BytesIO(photo)) as image:
        height, width = image.height, image.width
    return {
        "12 x flat 4000x4000 PNG": lambda: {"image": [flat_png(4000)] * 12},
        "400 rows of 64x48": lambda: {"image": [photo] * 400},
        "200 regions": lambda: {"image": [photo], "regions": [regions_value(height, width, 200, reference)]},
        "10,000 hints": lambda: {"image": [photo], "hints": [hints_value(height, width, 10_000)]},
    }


def hostile_bodies() -> dict[str, bytes]:
    """Class name -> JSON body of each hostile request (see `hostile_requests`), built from a bundled photo."""
    photo, reference = sample_jpegs((64, 160))
    with Image.open(io.BytesIO(photo)) as image:  # 64x48 exactly, as the issue measured
        small = io.BytesIO()
        image.convert("RGB").resize((64, 48)).save(small, format="JPEG", quality=90)
    return {name: columns_body(build()) for name, build in hostile_requests(small.getvalue(), reference).items()}


def schedule(requests: int, hostile_fraction: float, hostile: list[str]) -> list[str]:
    """The class of each request: `hostile_fraction` of them hostile, spread evenly, the `hostile` classes in turn."""
    classes, sent = [], 0
    for index in range(requests):
        if hostile and int((index + 1) * hostile_fraction) > int(index * hostile_fraction):
            classes.append(hostile[sent % len(hostile)])
            sent += 1
        else:
            classes.append(NORMAL)
    return classes


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


def expected(answer: Answer, kind: str) -> bool:
    """A normal request must be answered 200; a hostile one refused with a 4xx."""
    return answer.status == 200 if kind == NORMAL else 400 <= answer.status < 500


def summarize_classes(answers: list[Answer], classes: list[str]) -> dict[str, dict[str, object]]:
    """Request class -> requests, `answers` (status -> count; 0: no answer), p50/p99/max ms over every answer
    that came, and `unexpected` (answers other than `expected`)."""
    report = {}
    for kind in dict.fromkeys(classes):
        mine = [answer for answer, of in zip(answers, classes, strict=True) if of == kind]
        times = np.array([1000 * answer.seconds for answer in mine if answer.status])
        p50, p99 = np.percentile(times, [50, 99]) if len(times) else (float("nan"),) * 2
        report[kind] = {
            "requests": len(mine),
            "answers": dict(sorted(Counter(answer.status for answer in mine).items())),
            "p50_ms": float(p50),
            "p99_ms": float(p99),
            "max_ms": float(times.max()) if len(times) else float("nan"),
            "unexpected": sum(not expected(answer, kind) for answer in mine),
        }
    return report


def format_classes(report: dict[str, dict[str, object]]) -> list[str]:
    return [
        f"{kind}: {stats['requests']} requests, answers {stats['answers']}, ms p50 {stats['p50_ms']:.0f}, "
        f"p99 {stats['p99_ms']:.0f}, max {stats['max_ms']:.0f}; {stats['unexpected']} unexpected"
        for kind, stats in report.items()
    ]


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
    parser.add_argument(
        "--hostile-fraction",
        type=float,
        default=0.0,
        help="fraction of requests that are issue 19's hostile ones, which must get a 4xx (default 0)",
    )
    parser.add_argument(
        "--server-pid", type=int, help="pid of the server for its memory (default: the process listening on --url's port)"
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
        if not 0 <= args.hostile_fraction <= 1:
            raise ValueError(f"--hostile-fraction must lie in [0, 1], got {args.hostile_fraction}")
        images = [_read(path) for path in args.image] if args.image else sample_jpegs()
        sampler = _memory_sampler(args.url, args.server_pid)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    normal = [request_body(image) for image in images]
    hostile = hostile_bodies() if args.hostile_fraction > 0 else {}
    classes = schedule(args.requests, args.hostile_fraction, list(hostile))
    bodies, sent = [], Counter()
    for kind in classes:  # normal requests take the images in turn, as without hostile ones
        bodies.append(hostile[kind] if kind in hostile else normal[sent[kind] % len(normal)])
        sent[kind] += 1
    if sampler is not None:
        sampler.start()
    answers, seconds = run_load(args.url, bodies, args.requests, args.concurrency, args.timeout, args.time_limit)
    stats = summarize(answers, seconds)
    print(format_summary(stats, args.concurrency, seconds))
    report = summarize_classes(answers, classes)
    if hostile:
        print("\n".join(format_classes(report)))
    if sampler is not None:
        print(sampler.stop().report())
    unexpected = [answer for answer, kind in zip(answers, classes, strict=True) if not expected(answer, kind)]
    for reason in sorted({answer.error for answer in unexpected}):
        print(f"failed: {reason}", file=sys.stderr)
    return 0 if not unexpected else 1


def _memory_sampler(url: str, pid: int | None) -> MemorySampler | None:
    """A MemorySampler of the server's process tree (`pid`, else the process listening on `url`'s port); None when
    it cannot be found. Raises ValueError for a `pid` that does not exist."""
    try:  # psutil: needed only to measure memory
        import psutil

        from pseudocolor.experiments.scripts.server_memory import MemorySampler, listening_pid, server_root
    except ImportError:
        print("note: psutil is not installed, so the server's memory is not measured", file=sys.stderr)
        return None
    if pid is None:
        pid = listening_pid(urlsplit(url).port or (443 if url.startswith("https") else 80))
        if pid is None:
            return None
    try:
        return MemorySampler(server_root(pid))
    except psutil.NoSuchProcess as error:
        raise ValueError(f"--server-pid {pid}: no such process; give the pid of `mlflow models serve`") from error


if __name__ == "__main__":
    sys.exit(main())
