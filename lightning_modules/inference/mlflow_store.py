"""The MLflow store: the package's one default (a sqlite file under ./mlruns unless $MLFLOW_TRACKING_URI names
another), and pointing MLflow's fluent API (runs, model registry, downloads) at one store for a block of code."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow
from mlflow.tracking._tracking_service import utils as tracking_utils

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The given URI, else $MLFLOW_TRACKING_URI, else the local sqlite store."""
    return uri or os.environ.get(TRACKING_URI_ENV) or DEFAULT_TRACKING_URI


@contextmanager
def using_store(uri: str) -> Iterator[None]:
    """Within the block, runs, registered models and `models:/` downloads use the store at `uri`.

    Afterwards MLflow is as before: `mlflow.set_tracking_uri` also writes $MLFLOW_TRACKING_URI, and
    restoring with `mlflow.get_tracking_uri()` would pin the default store over a later env change,
    so both the unset state and the variable are put back.
    """
    previous_uri, previous_env = tracking_utils._tracking_uri, os.environ.get(TRACKING_URI_ENV)
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous_uri)
        if previous_env is None:
            os.environ.pop(TRACKING_URI_ENV, None)
        else:
            os.environ[TRACKING_URI_ENV] = previous_env
