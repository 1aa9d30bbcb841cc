"""`pseudocolor sync`: send the tracking writes that fits left unsent while their MLflow server was unreachable.

Every later fit, `register` and `evaluate` does the same when it opens the store; this sends them now.
"""

from __future__ import annotations

import argparse

from pseudocolor.experiments.tracking.buffered_client import fail_fast_http
from pseudocolor.experiments.tracking.unsent import DEFAULT_UNSENT_DIR, UNSENT_STATUS, send_unsent, unsent_files
from pseudocolor.lightning_modules.inference.mlflow_store import resolve_tracking_uri


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pseudocolor sync", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--unsent-dir", default=DEFAULT_UNSENT_DIR, help=f"where the fits kept them (default {DEFAULT_UNSENT_DIR})"
    )
    parser.add_argument(
        "--tracking-uri", help="MLflow store (default $MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db)"
    )
    return parser


def main(argv: list[str]) -> int:
    """0 when nothing is left unsent for the store; UNSENT_STATUS (75, try again later) while its server does not answer."""
    args = _parser().parse_args(argv)
    fail_fast_http()  # a server still down is reported at once, not after minutes of MLflow's retries
    uri = resolve_tracking_uri(args.tracking_uri)
    sent = send_unsent(uri, args.unsent_dir)
    left = unsent_files(uri, args.unsent_dir)
    print(f"sent {sent} writes to {uri}" + (f"; {len(left)} run(s) still unsent in {args.unsent_dir}" if left else ""))
    return UNSENT_STATUS if left else 0
