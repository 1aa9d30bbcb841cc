"""End to end: the registered model behind `mlflow models serve`, a real process on 127.0.0.1."""

import base64
import io
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from datamodules.decoding import decode_image
from tests.conftest import write_photo
from tests.deploy_helpers import assert_same_lightness

STARTUP_TIMEOUT_S = 180  # /ping answers after ~6 s on an idle machine, ~20 s on a busy 2-core one


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(registered, tmp_path_factory):
    """Base URL of `mlflow models serve -m models:/tiny@champion`; the process group is killed afterwards."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "serve.log"
    command = ["mlflow", "models", "serve", "-m", "models:/tiny@champion", "--env-manager", "local"]
    command += ["-h", "127.0.0.1", "-p", str(port)]
    env = {**os.environ, "MLFLOW_TRACKING_URI": registered.tracking_uri}
    with open(log, "w") as output:
        process = subprocess.Popen(
            command, env=env, cwd=log.parent, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not ping(url):
            assert process.poll() is None, f"the server exited ({process.returncode}):\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no /ping answer in {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # mlflow and its uvicorn worker
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def ping(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def invoke(url: str, payload: bytes) -> tuple[int, dict]:
    """POST one image (raw bytes, base64-encoded here) -> (HTTP status, decoded JSON answer)."""
    body = {"dataframe_split": {"columns": ["image"], "data": [[base64.b64encode(payload).decode("ascii")]]}}
    request = urllib.request.Request(
        f"{url}/invocations", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.mark.slow
def test_a_jpeg_comes_back_as_a_png_of_the_same_size_and_lightness(server, tmp_path):
    source = write_photo(tmp_path / "photo.jpg", height=90, width=150, quality=92)

    start = time.perf_counter()
    status, answer = invoke(server, source.read_bytes())
    print(f"one 150x90 JPEG served in {1000 * (time.perf_counter() - start):.0f} ms")

    assert status == 200
    png = Image.open(io.BytesIO(base64.b64decode(answer["predictions"][0]["image"])))
    assert png.format == "PNG" and png.size == (150, 90)
    assert_same_lightness(np.asarray(png.convert("RGB")), decode_image(source))


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
