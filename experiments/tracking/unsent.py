"""Writes a fit could not deliver to its tracking server, kept under `mlruns/unsent/<run id>/`, and sending them.

A fit that ends while the server is unreachable leaves `operations.jsonl` (one write per line, in order, with file
snapshots beside it) and `tracking_uri.txt` there. `send_unsent` delivers every such folder kept for a store and
removes it; the fit, `register`, `evaluate` and `pseudocolor sync` call it when they open a store, so nobody has to.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from mlflow import MlflowClient

from pseudocolor.experiments.tracking.buffered_client import UNSENT_FILE, URI_FILE, Operation, is_transient

log = logging.getLogger(__name__)

DEFAULT_UNSENT_DIR = "mlruns/unsent"
# Exit status of a fit whose tracking writes are left unsent (sysexits' EX_TEMPFAIL: try again later).
UNSENT_STATUS = 75
REPLAYED_TAG = "pseudocolor.replayed_writes"  # set on a run completed by a later command


def sync_hint(unsent_dir: str | Path = DEFAULT_UNSENT_DIR) -> str:
    """The command that sends what is kept in `unsent_dir`."""
    return "pseudocolor sync" + ("" if str(unsent_dir) == DEFAULT_UNSENT_DIR else f" --unsent-dir {unsent_dir}")


def replay(path: Path, client: MlflowClient) -> int:
    """Send the writes saved in an unsent-operations file, in order; returns how many. Sending one twice is
    harmless (each write sets the same values again), so a replay cut short is simply run again."""
    operations = [Operation.from_json(line) for line in Path(path).read_text().splitlines() if line.strip()]
    for operation in operations:
        operation.send(client)
    return len(operations)


def unsent_files(tracking_uri: str, unsent_dir: str | Path = DEFAULT_UNSENT_DIR) -> list[Path]:
    """The unsent-operations files kept in `unsent_dir` for the store at `tracking_uri`, oldest first."""
    files = sorted(Path(unsent_dir).glob(f"*/{UNSENT_FILE}"), key=lambda path: path.stat().st_mtime)
    return [path for path in files
            if (path.parent / URI_FILE).is_file() and (path.parent / URI_FILE).read_text().strip() == tracking_uri]


def send_unsent(tracking_uri: str, unsent_dir: str | Path = DEFAULT_UNSENT_DIR) -> int:
    """Send every run's unsent writes kept in `unsent_dir` for the store at `tracking_uri`, oldest first; each
    delivered folder is removed and its run tagged `pseudocolor.replayed_writes`. A server still unreachable
    leaves the folders for next time (one warning). Returns how many writes were sent."""
    client, sent = MlflowClient(tracking_uri), 0
    for path in unsent_files(tracking_uri, unsent_dir):
        try:
            count = replay(path, client)
            client.set_tag(path.parent.name, REPLAYED_TAG, str(count))
        except Exception as error:  # only a transient failure is left for later; anything else is raised
            if not is_transient(error):
                raise
            log.warning("The MLflow tracking server at %s is still unreachable; unsent writes stay in %s.",
                        tracking_uri, path.parent)
            return sent
        shutil.rmtree(path.parent)
        log.warning("Sent %d tracking writes of run %s that an earlier fit could not deliver.", count, path.parent.name)
        sent += count
    return sent
