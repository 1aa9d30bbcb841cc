"""A tiny model registered once per session in a private sqlite store, shared by register and serve tests,
and one real `mlflow models serve` process of it on 127.0.0.1, shared by the serve tests."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from pseudocolor.experiments.commands.register import main as register
from pseudocolor.experiments.tracking.store import prepare_store
from tests.deploy_helpers import write_weights

MAX_PIXELS = 100_000  # the served limit: a 400x300 photo is refused
STARTUP_TIMEOUT_S = 180  # /ping answers after ~6 s on an idle machine, ~20 s on a busy 2-core one


@dataclass(frozen=True)
class Registered:
    tracking_uri: str
    name: str
    run_id: str
    weights: Path
    output: str  # what `pseudocolor register` printed


@pytest.fixture(scope="session")
def registered(tmp_path_factory) -> Registered:
    folder = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    weights = write_weights(folder / "tiny.pt", seed=7)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = register(
            ["--model", str(weights), "--name", "tiny", "--tracking-uri", uri, "--max-pixels", str(MAX_PIXELS)]
        )
    assert status == 0
    run_id = mlflow.MlflowClient(uri).get_model_version("tiny", "1").run_id
    return Registered(uri, "tiny", run_id, weights, printed.getvalue())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ping(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory) -> str:
    """One sqlite MLflow store for the evaluate tests: creating its tables takes seconds on 2 busy cores."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlruns') / 'mlflow.db'}"
    prepare_store(uri)
    return uri
