"""An MlflowClient whose writes never block or crash training while the tracking server is unreachable.

Writes (metrics, params, tags, texts, images, artifacts, the run's end) are snapshotted when they are made,
kept in order in a queue and sent by one background thread, which retries transient failures (connection
refused or reset, timeouts, HTTP 408/429/5xx) with backoff, so the server receives them in order once it is
back. A permanent failure (the server refuses the write, e.g. a changed param value) is not retried: the
next write or `raise_if_rejected` raises it. `flush(timeout)` waits for the queue to drain; what is still
unsent then is written to `<spool_dir>/<run id>/operations.jsonl` (with the store's URI beside it), which
`pseudocolor sync` (experiments/tracking/unsent.py) sends later. Reads go straight to the wrapped client.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np
import requests
import urllib3
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

log = logging.getLogger(__name__)

TRANSIENT_HTTP_STATUSES = frozenset({408, 429})
NETWORK_ERRORS = (
    ConnectionError, TimeoutError, requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError
)
UNSENT_FILE = "operations.jsonl"
URI_FILE = "tracking_uri.txt"  # beside UNSENT_FILE: the store its writes are for
# MLflow's HTTP defaults retry a failed request 7 times with backoff (minutes) and wait 120 s for an answer,
# holding the writer silent all that time. The buffer retries itself, so each request should fail fast.
FAIL_FAST_HTTP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


def fail_fast_http() -> None:
    """Turn MLflow's HTTP retries off for this process and its DDP workers, unless the environment sets them."""
    for name, value in FAIL_FAST_HTTP.items():
        os.environ.setdefault(name, value)


def _http_status(error: BaseException) -> int | None:
    if isinstance(error, MlflowException):
        return error.get_http_status_code()
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return error.response.status_code
    return None


def is_transient(error: BaseException) -> bool:
    """True for failures that retrying can cure: the network (anywhere in the exception's chain) or an HTTP
    status of 408, 429 or 5xx. MLflow wraps network errors in an MlflowException with status 500."""
    seen = error
    while seen is not None:
        if isinstance(seen, NETWORK_ERRORS):
            return True
        seen = seen.__cause__ or seen.__context__
    status = _http_status(error)
    return status is not None and (status in TRANSIENT_HTTP_STATUSES or status >= 500)


class TrackingRejectedError(RuntimeError):
    """The tracking store permanently refused a buffered write."""


class Operation:
    """One write: an MlflowClient method name and JSON-serialisable keyword arguments; `folder` holds the
    files it sends (snapshots taken when the write was made), removed once it is delivered."""

    def __init__(self, method: str, kwargs: dict, folder: Path | None = None) -> None:
        self.method, self.kwargs, self.folder = method, kwargs, folder

    def send(self, client: MlflowClient) -> None:
        kwargs = dict(self.kwargs)
        if self.method == "log_batch":
            kwargs["metrics"] = [Metric(**m) for m in kwargs["metrics"]]
            kwargs["params"] = [Param(**p) for p in kwargs["params"]]
            kwargs["tags"] = [RunTag(**t) for t in kwargs["tags"]]
            kwargs["synchronous"] = True
        elif self.method == "log_image":
            kwargs["image"] = np.load(kwargs["image"])
            kwargs["synchronous"] = True
        getattr(client, self.method)(**kwargs)

    def to_json(self) -> str:
        return json.dumps({"method": self.method, "kwargs": self.kwargs})

    @classmethod
    def from_json(cls, line: str) -> Operation:
        data = json.loads(line)
        return cls(data["method"], data["kwargs"])


def _now_ms() -> int:
    return int(time.time() * 1000)


class BufferedClient:
    """Wraps an MlflowClient: the write methods below queue and return at once, everything else is the
    wrapped client's. Snapshots of files and images wait in `spool_dir` until they are sent. MLflow's own HTTP
    retries are turned off for the process (`fail_fast_http`) unless the environment sets them."""

    def __init__(self, client: MlflowClient, spool_dir: Path, max_backoff_s: float = 5.0) -> None:
        fail_fast_http()
        self._client = client
        self.spool_dir = Path(spool_dir).resolve()  # the unsent file names its snapshots by absolute paths
        self.max_backoff_s = max_backoff_s
        self._queue: deque[Operation] = deque()
        self._condition = threading.Condition()
        self._rejected: list[str] = []
        self._thread: threading.Thread | None = None
        self._retry_now = threading.Event()
        self._counter = itertools.count()
        self._run_folders: set[Path] = set()
        self._failing = False  # the last delivery attempt failed transiently (the server is not answering)

    def __getattr__(self, name: str):
        if name == "_client":
            raise AttributeError(name)
        return getattr(self._client, name)

    # --- writes -------------------------------------------------------------------------------------

    def log_batch(self, run_id: str, metrics=(), params=(), tags=(), synchronous: bool | None = None) -> None:
        metrics = [{"key": m.key, "value": float(m.value), "timestamp": m.timestamp, "step": m.step} for m in metrics]
        params = [{"key": p.key, "value": str(p.value)} for p in params]
        tags = [{"key": t.key, "value": str(t.value)} for t in tags]
        if metrics or params or tags:
            self._put(Operation("log_batch", {"run_id": run_id, "metrics": metrics, "params": params, "tags": tags}))

    def log_metric(self, run_id: str, key: str, value: float, timestamp: int | None = None, step: int | None = None,
                   synchronous: bool | None = None) -> None:
        self.log_batch(run_id, metrics=[Metric(key, value, timestamp or _now_ms(), step or 0)])

    def log_param(self, run_id: str, key: str, value, synchronous: bool | None = None) -> None:
        self.log_batch(run_id, params=[Param(key, str(value))])

    def set_tag(self, run_id: str, key: str, value, synchronous: bool | None = None) -> None:
        self.log_batch(run_id, tags=[RunTag(key, str(value))])

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._put(Operation("log_text", {"run_id": run_id, "text": text, "artifact_file": artifact_file}))

    def log_dict(self, run_id: str, dictionary: dict, artifact_file: str) -> None:
        dictionary = json.loads(json.dumps(dictionary))  # a snapshot, and refuses what the file could not hold
        self._put(Operation("log_dict", {"run_id": run_id, "dictionary": dictionary, "artifact_file": artifact_file}))

    def log_image(self, run_id: str, image, artifact_file: str | None = None, key: str | None = None,
                  step: int | None = None, timestamp: int | None = None, synchronous: bool | None = None) -> None:
        folder = self._new_folder(run_id)
        np.save(folder / "image.npy", np.asarray(image))
        if key is not None:
            timestamp, step = timestamp or _now_ms(), step or 0
        kwargs = {"run_id": run_id, "image": str(folder / "image.npy"), "artifact_file": artifact_file, "key": key,
                  "step": step, "timestamp": timestamp}
        self._put(Operation("log_image", kwargs, folder))

    def log_artifact(self, run_id: str, local_path, artifact_path: str | None = None) -> None:
        folder = self._new_folder(run_id)
        copy = shutil.copy2(local_path, folder / Path(local_path).name)
        self._put(Operation("log_artifact", {"run_id": run_id, "local_path": str(copy), "artifact_path": artifact_path},
                            folder))

    def log_artifacts(self, run_id: str, local_dir, artifact_path: str | None = None) -> None:
        folder = self._new_folder(run_id)
        copy = shutil.copytree(local_dir, folder / "dir")
        self._put(Operation("log_artifacts", {"run_id": run_id, "local_dir": str(copy), "artifact_path": artifact_path},
                            folder))

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> None:
        self._put(Operation("set_terminated", {"run_id": run_id, "status": status, "end_time": end_time or _now_ms()}))

    # --- delivery -----------------------------------------------------------------------------------

    def flush(self, timeout: float) -> Path | None:
        """Wait for every queued write to be delivered: up to `timeout` seconds while the server does not answer,
        and for as long as it takes once it does (a flush under way is never cut by the deadline). While
        waiting, the writer retries every second instead of backing off. Returns None when everything was
        delivered; otherwise moves the rest into `<spool_dir>/<run id>/operations.jsonl`, says so, and returns it."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._queue and (time.monotonic() < deadline or not self._failing):
                self._retry_now.set()  # a writer backing off tries again at once
                self._condition.wait(1.0)
            unsent, self._queue = list(self._queue), deque()
        if not unsent:
            for folder in (*self._run_folders, self.spool_dir):
                _remove_if_empty(folder)
            return None
        path = (self.spool_dir / unsent[0].kwargs["run_id"] / UNSENT_FILE).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as file:
            file.writelines(operation.to_json() + "\n" for operation in unsent)
        (path.parent / URI_FILE).write_text(self._client.tracking_uri)
        log.error(
            "The MLflow tracking server was still unreachable after waiting %.0f s, so %d unsent writes were saved to %s.",
            timeout, len(unsent), path,
        )
        return path

    def raise_if_rejected(self) -> None:
        """Raise TrackingRejectedError if the store refused a write since the last call."""
        with self._condition:
            rejected, self._rejected = self._rejected, []
        if rejected:
            raise TrackingRejectedError(f"MLflow refused {len(rejected)} write(s): {'; '.join(rejected)}")

    def _new_folder(self, run_id: str) -> Path:
        self._run_folders.add(self.spool_dir / run_id)
        folder = self.spool_dir / run_id / f"{next(self._counter):06d}"
        folder.mkdir(parents=True)
        return folder

    def _put(self, operation: Operation) -> None:
        with self._condition:
            self._queue.append(operation)
            self._condition.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._deliver, name="mlflow-writer", daemon=True)
                self._thread.start()
        self.raise_if_rejected()

    def _deliver(self) -> None:
        """The background thread: sends the head of the queue until it is delivered or refused."""
        failures, down_since = 0, None
        while True:
            with self._condition:
                while not self._queue:
                    self._condition.wait()
                operation = self._queue[0]
            try:
                operation.send(self._client)
                error = None
            except Exception as caught:  # noqa: BLE001 - sorted into transient and permanent below
                error = caught
            if error is not None and is_transient(error):
                self._failing = True
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("MLflow tracking server unreachable (%s); training goes on and its writes are kept "
                                "in order and retried.", str(error).splitlines()[0][:200])
                failures += 1
                self._retry_now.wait(min(self.max_backoff_s, 0.5 * 2 ** (failures - 1)))
                self._retry_now.clear()
                continue
            with self._condition:
                self._failing = False
                if not (self._queue and self._queue[0] is operation):
                    continue  # flush gave up waiting and saved it to the unsent file
                self._queue.popleft()
                if operation.folder is not None:
                    shutil.rmtree(operation.folder, ignore_errors=True)
                if error is not None:
                    self._rejected.append(f"{operation.method} for run {operation.kwargs['run_id']}: {error}")
                if down_since is not None:
                    log.warning("MLflow tracking server reachable again after %.0f s; sending %d buffered writes.",
                                time.monotonic() - down_since, len(self._queue) + 1)
                self._condition.notify_all()
            if error is not None:
                log.error("MLflow refused %s for run %s: %s", operation.method, operation.kwargs["run_id"], error)
            failures, down_since = 0, None


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # not empty, or not there
        pass
