"""A tiny model registered once per session in a private sqlite store, shared by register and serve tests."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from experiments.register import main as register
from tests.deploy_helpers import write_weights

MAX_PIXELS = 100_000  # the served limit: a 400x300 photo is refused


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
