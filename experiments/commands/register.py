"""`pseudocolor register`: publish a model as an MLflow pyfunc model under a registered name and alias.

A model whose training run is in the store (a checkpoint written by `pseudocolor fit`, `runs:/RUN_ID/...` of a
training run, or `models:/...` registered from one) is logged into that run; any other gets a run of its own in
`--experiment`. The version is tagged `source_run_id` and `checkpoint` and described (data, epochs, validation PSNR
against the colourless input, this command); the LoggedModel holds the run's key params and the checkpoint's
validation metrics. Prints the model URI (`models:/NAME@ALIAS`) that `mlflow models serve` and `--model` accept.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import fields

import mlflow
from mlflow.exceptions import MlflowException

from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.experiments.tracking.store import DEFAULT_EXPERIMENT, prepare_store
from pseudocolor.lightning_modules.deploy.lineage import (
    CHECKPOINT_TAG,
    PSNR,
    SOURCE_RUN_TAG,
    Lineage,
    checkpoint_origin,
    command_line,
    relative_to_cwd,
    source_run_id,
)
from pseudocolor.lightning_modules.deploy.model_registry import DEFAULT_ALIAS, register_colorizer
from pseudocolor.lightning_modules.deploy.serving_limits import DEFAULT_LIMITS, ServingLimits, env_name
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.mlflow_store import resolve_tracking_uri
from pseudocolor.lightning_modules.inference.model_spec import PRETRAINED

DEFAULT_NAME = "pseudocolor"


def _parser() -> argparse.ArgumentParser:
    summary, _, details = __doc__.partition("\n\n")
    parser = argparse.ArgumentParser(prog="pseudocolor register", description=summary, epilog=" ".join(details.split()))
    parser.add_argument(
        "--model", default=PRETRAINED, help="model spec: .ckpt, weights file, models:/..., runs:/... or pretrained (default)"
    )
    parser.add_argument("--name", default=DEFAULT_NAME, help=f"registered model name (default {DEFAULT_NAME})")
    parser.add_argument("--alias", default=DEFAULT_ALIAS, help=f"alias set on the new version (default {DEFAULT_ALIAS})")
    for limit in fields(ServingLimits):  # the served model's request limits (README "Limits of a request")
        default = getattr(DEFAULT_LIMITS, limit.name)
        parser.add_argument(
            f"--{limit.name.replace('_', '-')}",
            type=int,
            default=default,
            help=f"request limit {limit.name} of the served model (default {default}; {env_name(limit.name)} "
            "overrides it when serving)",
        )
    parser.add_argument(
        "--experiment",
        default=DEFAULT_EXPERIMENT,
        help="MLflow experiment of the run made for a model whose training run is not in the store "
        f"(default {DEFAULT_EXPERIMENT})",
    )
    parser.add_argument(
        "--tracking-uri", help="MLflow store (default $MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db)"
    )
    return parser


def lineage_of(spec: str, client: mlflow.MlflowClient, command: str) -> Lineage:
    """Where the weights of model spec `spec` come from (see `lineage.Lineage`); a spec MLflow cannot trace back
    (an unknown alias, a stage name) gets no training run."""
    if spec == PRETRAINED:
        return Lineage(spec, command=command)
    try:
        if spec.startswith("runs:/"):
            return _run_lineage(spec, client, command)
        if spec.startswith("models:/"):
            return _registered_lineage(spec, client, command)
    except MlflowException:
        return Lineage(spec, command=command)
    run_id, epoch = checkpoint_origin(spec)  # a checkpoint of a fit, or a weights file: (None, None)
    return Lineage(relative_to_cwd(spec), run_id, epoch, command=command)


def _run_lineage(spec: str, client: mlflow.MlflowClient, command: str) -> Lineage:
    """`runs:/RUN_ID/PATH`: the run's training run; the epoch of a checkpoint artifact."""
    run_id, _, path = spec.removeprefix("runs:/").partition("/")
    epoch = None
    if path.endswith(".ckpt"):
        with tempfile.TemporaryDirectory(prefix="pseudocolor-register-") as folder:
            epoch = checkpoint_origin(client.download_artifacts(run_id, path, folder))[1]
    return Lineage(spec, source_run_id(client, run_id), epoch, command=command)


def _registered_lineage(spec: str, client: mlflow.MlflowClient, command: str) -> Lineage:
    """`models:/NAME@ALIAS`, `models:/NAME/VERSION` or `models:/MODEL_ID`: the lineage recorded when it was
    registered (tags of the version or LoggedModel, the validation step of its metrics), else its source run's."""
    reference = spec.removeprefix("models:/")
    version = None
    if "@" in reference:
        version = client.get_model_version_by_alias(*reference.split("@", 1))
    elif "/" in reference:
        version = client.get_model_version(*reference.rsplit("/", 1))
    model_id = reference if version is None else (version.model_id or _logged_model_id(version.source))
    model = client.get_logged_model(model_id) if model_id else None
    tags = {**(model.tags if model is not None else {}), **(version.tags if version is not None else {})}
    run_id = model.source_run_id if model is not None else version.run_id
    steps = [metric.step for metric in (model.metrics or []) if metric.key == PSNR] if model is not None else []
    return Lineage(
        tags.get(CHECKPOINT_TAG, spec),
        tags[SOURCE_RUN_TAG] if SOURCE_RUN_TAG in tags else (source_run_id(client, run_id) if run_id else None),
        step=max(steps, default=None),
        command=command,
    )


def _logged_model_id(source: str) -> str | None:
    """The LoggedModel id of a version's source `models:/m-...` (MLflow 3's; a sqlite registry keeps no model_id)."""
    reference = source.removeprefix("models:/") if source.startswith("models:/") else ""
    return reference if reference.startswith("m-") and "/" not in reference else None


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        limits = ServingLimits(**{limit.name: getattr(args, limit.name) for limit in fields(ServingLimits)})
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    uri = resolve_tracking_uri(args.tracking_uri)
    try:
        colorizer = Colorizer.load(args.model, "cpu", uri)
    except PseudocolorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        experiment_id = prepare_store(uri, args.experiment)
        lineage = lineage_of(args.model, mlflow.MlflowClient(uri), command_line(["pseudocolor", "register", *argv]))
        registration = register_colorizer(
            colorizer, args.name, uri, lineage, experiment_id, args.alias, limits=limits
        )
    except MlflowException as error:
        message = f"registering {args.model} as {args.name} in {uri} failed ({error.message}); check the name and store"
        print(f"error: {message}", file=sys.stderr)
        return 2
    print(f"registered {args.model} as {args.name} version {registration.version} with alias @{args.alias} in {uri}")
    if registration.in_training_run:
        print(f"logged into its training run {registration.run_id}")
    else:
        origin = f"its training run {lineage.run_id} is not in this store" if lineage.run_id else "no training run"
        print(f"{origin}: logged into a new run {registration.run_id}")
    print(registration.uri)
    return 0
