"""`pseudocolor register`: publish a model as an MLflow pyfunc model under a registered name and alias.

Prints the model URI (`models:/NAME@ALIAS`) that `mlflow models serve` and `--model` accept.
"""

from __future__ import annotations

import argparse
import sys

from mlflow.exceptions import MlflowException

from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.experiments.tracking.store import DEFAULT_EXPERIMENT, prepare_store
from pseudocolor.lightning_modules.deploy.model_registry import DEFAULT_ALIAS, register_colorizer
from pseudocolor.lightning_modules.deploy.serving import DEFAULT_SERVING_MAX_PIXELS
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.mlflow_store import resolve_tracking_uri
from pseudocolor.lightning_modules.inference.model_spec import PRETRAINED

DEFAULT_NAME = "pseudocolor"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pseudocolor register", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=PRETRAINED, help="model spec: .ckpt, weights file, models:/..., runs:/... or pretrained"
    )
    parser.add_argument("--name", default=DEFAULT_NAME, help=f"registered model name (default {DEFAULT_NAME})")
    parser.add_argument("--alias", default=DEFAULT_ALIAS, help=f"alias set on the new version (default {DEFAULT_ALIAS})")
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_SERVING_MAX_PIXELS,
        help=f"largest image (width x height) the served model accepts (default {DEFAULT_SERVING_MAX_PIXELS})",
    )
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT, help="MLflow experiment of the run")
    parser.add_argument(
        "--tracking-uri", help="MLflow store (default $MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db)"
    )
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.max_pixels < 1:
        print(f"error: --max-pixels must be positive, got {args.max_pixels}", file=sys.stderr)
        return 2
    uri = resolve_tracking_uri(args.tracking_uri)
    try:
        colorizer = Colorizer.load(args.model, "cpu", uri)
    except PseudocolorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        experiment_id = prepare_store(uri, args.experiment)
        model_uri, version = register_colorizer(
            colorizer, args.name, uri, args.alias, experiment_id=experiment_id, max_pixels=args.max_pixels
        )
    except MlflowException as error:
        message = f"registering {args.model} as {args.name} in {uri} failed ({error.message}); check the name and store"
        print(f"error: {message}", file=sys.stderr)
        return 2
    print(f"registered {args.model} as {args.name} version {version} with alias @{args.alias} in {uri}")
    print(model_uri)
    return 0
