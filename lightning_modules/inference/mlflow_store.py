"""The MLflow store: the package's one default (a sqlite file under ./mlruns unless $MLFLOW_TRACKING_URI names
another), and pointing MLflow's fluent API (runs, model registry, downloads) at one store for a block of code."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The given URI, else $MLFLOW_TRACKING_URI, else the local sqlite store."""
    return uri or os.environ.get(TRACKING_URI_ENV) or DEFAULT_TRACKING_URI


def unpin_tracking_uri() -> None:
    """Forget a tracking URI set in this process (by `mlflow.set_tracking_uri`, as Lightning's MLFlowLogger does), so
    MLflow reads $MLFLOW_TRACKING_URI again; the variable itself keeps its value."""
    variable = os.environ.get(TRACKING_URI_ENV)
    mlflow.set_tracking_uri(None)  # None unsets MLflow's URI and, as a side effect, the variable
    if variable is not None:
        os.environ[TRACKING_URI_ENV] = variable


@contextmanager
def using_store(uri: str) -> Iterator[None]:
    """Within the block, runs, registered models and `models:/` downloads use the store at `uri`.

    Afterwards MLflow reads $MLFLOW_TRACKING_URI (or its default) again, with the variable as it was: restoring with
    `mlflow.get_tracking_uri()` would pin that value over a later change of the variable.
    """
    variable = os.environ.get(TRACKING_URI_ENV)
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        os.environ.pop(TRACKING_URI_ENV, None)
        if variable is not None:
            os.environ[TRACKING_URI_ENV] = variable
        unpin_tracking_uri()
