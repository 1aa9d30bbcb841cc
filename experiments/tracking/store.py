"""The tracking store of a run: created once (by the launcher rank) before DDP workers open it, found again by
resume; a sqlite store under ./mlruns unless MLFLOW_TRACKING_URI names another."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import mlflow

from pseudocolor.experiments.tracking.unsent import send_unsent
from pseudocolor.lightning_modules.inference.mlflow_store import resolve_tracking_uri

DEFAULT_EXPERIMENT = "pseudocolor"


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///") :])


def artifact_location(uri: str) -> str | None:
    """For a local sqlite store, artifacts go to `artifacts/` beside the database file (an absolute URI,
    so it does not depend on the working directory); a server decides for itself (None)."""
    db_path = _sqlite_path(uri)
    return (db_path.parent / "artifacts").resolve().as_uri() if db_path is not None else None


def prepare_store(uri: str | None = None, experiment_name: str = DEFAULT_EXPERIMENT) -> str:
    """Create (or migrate) the store and the experiment once, before any DDP worker starts, and send what earlier
    fits left unsent for this store (experiments/tracking/unsent.py). Returns the experiment id."""
    uri = resolve_tracking_uri(uri)
    db_path = _sqlite_path(uri)
    if db_path is not None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(experiment_name)
    send_unsent(uri)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(experiment_name, artifact_location=artifact_location(uri))


def find_experiment_id(uri: str | None = None, experiment_name: str = DEFAULT_EXPERIMENT) -> str | None:
    """The id of an existing experiment, or None (creates nothing but the store's tables)."""
    experiment = mlflow.MlflowClient(resolve_tracking_uri(uri)).get_experiment_by_name(experiment_name)
    return experiment.experiment_id if experiment is not None else None


# Rank variables set by Lightning's subprocess launcher (LOCAL_RANK, NODE_RANK), torchrun (RANK) and srun.
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")


def is_launcher_rank() -> bool:
    """True in the process that starts training: global rank 0, not a DDP worker launched by Lightning,
    torchrun or srun."""
    return all(os.environ.get(name, "0") == "0" for name in RANK_VARIABLES)


def _experiment_exists(db_path: Path, experiment_name: str) -> bool:
    """Read-only look into a sqlite store (never creates the file): has the experiment been created?"""
    if not db_path.is_file():
        return False
    try:
        with sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0) as connection:
            rows = connection.execute("SELECT 1 FROM experiments WHERE name = ?", (experiment_name,)).fetchall()
    except sqlite3.Error:  # tables not there yet, or locked by the rank creating them
        return False
    return bool(rows)


def wait_for_store(
    uri: str | None = None, experiment_name: str = DEFAULT_EXPERIMENT, timeout_s: float = 600.0, poll_s: float = 0.2
) -> None:
    """In a DDP worker: block until the launcher rank has created the sqlite store and the experiment.

    Under torchrun or srun every rank runs the CLI at once, and opening an MlflowClient on a fresh sqlite
    file creates its tables, so two ranks doing it together fail. Servers and other databases return at once.
    """
    db_path = _sqlite_path(resolve_tracking_uri(uri))
    if db_path is None:
        return
    deadline = time.monotonic() + timeout_s
    while not _experiment_exists(db_path, experiment_name):
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"rank 0 did not create experiment {experiment_name!r} in {db_path} within {timeout_s:.0f} s; "
                "check that rank 0 started and sees the same file"
            )
        time.sleep(poll_s)
