"""Logging a Colorizer as an MLflow pyfunc model and registering it under a name and alias.

The model holds the fp16 weights and a JSON config as artifacts, as code only the `pseudocolor` modules that
serving imports (see `served_code`), pinned pip requirements (no Lightning), a signature (binary `image` and the optional
guidance columns `hints`, `reference`, `regions`, `blend` in, base64 PNG `image` out) and a small JPEG as
input example. It is logged into its training run when the store holds that run (see `lineage`), else into a run
made for it; its MLmodel names no file outside the model.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import LoggedModel, LoggedModelOutput, LoggedModelStatus, Metric, Run, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.models.model import MLMODEL_FILE_NAME, MODEL_CODE_PATH
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.types import ColSpec, DataType, Schema
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE
from PIL import Image

from pseudocolor.lightning_modules.deploy.lineage import (
    COMMAND_TAG,
    REGISTER_COMMAND,
    Lineage,
    describe,
    key_params,
    training_run,
    validation_metrics,
    validation_step,
)
from pseudocolor.lightning_modules.deploy.served_code import copy_served_code
from pseudocolor.lightning_modules.deploy.serving import (
    CONFIG_ARTIFACT,
    IMAGE_COLUMN,
    write_serving_config,
)
from pseudocolor.lightning_modules.deploy.serving_guide import (
    BLEND_COLUMN,
    HINTS_COLUMN,
    REFERENCE_COLUMN,
    REFERENCE_MODE_COLUMN,
    REGIONS_COLUMN,
)
from pseudocolor.lightning_modules.deploy.serving_limits import DEFAULT_LIMITS, ServingLimits
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.mlflow_store import using_store
from pseudocolor.lightning_modules.inference.model_spec import WEIGHTS_ARTIFACT

SERVING_ENTRY = Path(__file__).resolve().parent / "serving_entry.py"  # models from code: nothing pickled
MODEL_NAME = "model"  # the model's name within its run
DEFAULT_ALIAS = "champion"
REQUIREMENTS = ("mlflow", "torch", "kornia", "numpy", "pillow", "pandas")  # what the served code imports
SIGNATURE = ModelSignature(
    inputs=Schema(
        [
            ColSpec(DataType.binary, IMAGE_COLUMN),
            ColSpec(DataType.string, HINTS_COLUMN, required=False),
            # base64 text decoded by the model: MLflow's binary columns cannot hold null and read bad base64 as b""
            ColSpec(DataType.string, REFERENCE_COLUMN, required=False),
            ColSpec(DataType.string, REGIONS_COLUMN, required=False),
            ColSpec(DataType.string, BLEND_COLUMN, required=False),
            ColSpec(DataType.string, REFERENCE_MODE_COLUMN, required=False),
        ]
    ),
    outputs=Schema([ColSpec(DataType.string, IMAGE_COLUMN)]),
)


def pip_requirements() -> list[str]:
    """The serving dependencies pinned to the installed versions (local tags such as +cu132 dropped)."""
    return [f"{name}=={version(name).split('+')[0]}" for name in REQUIREMENTS]


def input_example() -> pd.DataFrame:
    """One 32x48 JPEG in the `image` column."""
    buffer = io.BytesIO()
    ramp = np.linspace(0, 255, 32 * 48, dtype=np.uint8).reshape(32, 48)
    Image.fromarray(ramp).save(buffer, format="JPEG")
    return pd.DataFrame({IMAGE_COLUMN: [buffer.getvalue()]})


def save_colorizer_model(
    colorizer: Colorizer, folder: Path, mlflow_model: Model, limits: ServingLimits = DEFAULT_LIMITS
) -> Path:
    """Write `colorizer` as a pyfunc model into `folder/model` -> that folder. Its MLmodel names no file outside it:
    MLflow records where each artifact was copied from (`uri`: here a temporary folder) and the absolute path of
    the model's code file; both become paths inside the model (loading reads only the artifacts' `path` and the
    code file's name)."""
    staging, path = folder / "staging", folder / "model"
    weights = colorizer.save_weights(staging / "weights.pt", half=True)
    config = write_serving_config(staging / "config.json", limits)
    mlflow.pyfunc.save_model(
        path=str(path),
        python_model=str(SERVING_ENTRY),
        artifacts={WEIGHTS_ARTIFACT: str(weights), CONFIG_ARTIFACT: str(config)},
        code_paths=[str(copy_served_code(SERVING_ENTRY, staging / "code"))],
        pip_requirements=pip_requirements(),
        signature=SIGNATURE,
        input_example=input_example(),
        mlflow_model=mlflow_model,
    )
    for pycache in list(path.rglob("__pycache__")):  # saving imports the serving entry
        shutil.rmtree(pycache, ignore_errors=True)
    mlmodel = Model.load(path / MLMODEL_FILE_NAME)
    flavor = mlmodel.flavors[mlflow.pyfunc.FLAVOR_NAME]
    for artifact in flavor.get("artifacts", {}).values():
        artifact["uri"] = artifact["path"]
    if MODEL_CODE_PATH in flavor:
        flavor[MODEL_CODE_PATH] = Path(flavor[MODEL_CODE_PATH]).name
    mlmodel.save(path / MLMODEL_FILE_NAME)
    return path


def log_colorizer_model(
    colorizer: Colorizer,
    run: Run,
    limits: ServingLimits = DEFAULT_LIMITS,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    step: int = 0,
) -> LoggedModel:
    """Log `colorizer` as the pyfunc model `model` of `run` (an MLflow LoggedModel with `params` and `tags`, an
    output of the run at `step`) in the store MLflow's fluent API uses; the run's status is left as it is."""
    client = mlflow.MlflowClient()
    model = mlflow.initialize_logged_model(
        name=MODEL_NAME, source_run_id=run.info.run_id, tags=tags, params=params, experiment_id=run.info.experiment_id
    )
    try:
        with tempfile.TemporaryDirectory(prefix="pseudocolor-register-") as folder:
            mlflow_model = Model(
                artifact_path=model.artifact_location,
                run_id=run.info.run_id,
                model_uuid=model.model_id,
                model_id=model.model_id,
            )
            client.log_model_artifacts(
                model.model_id, str(save_colorizer_model(colorizer, Path(folder), mlflow_model, limits))
            )
        client.log_outputs(run.info.run_id, [LoggedModelOutput(model.model_id, step)])
    except BaseException:
        client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
        raise
    return client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)


@dataclass(frozen=True)
class Registration:
    """A registered model version: `uri` is `models:/NAME@ALIAS`; `run_id` its source run, which is the model's
    training run when `in_training_run`, else a run made for the registration."""

    uri: str
    version: str
    run_id: str
    model_id: str
    in_training_run: bool


def register_colorizer(
    colorizer: Colorizer,
    name: str,
    uri: str,
    lineage: Lineage,
    experiment_id: str,
    alias: str = DEFAULT_ALIAS,
    limits: ServingLimits = DEFAULT_LIMITS,
) -> Registration:
    """Log `colorizer` into its training run (`lineage.run_id`) when the store at `uri` holds that run, else into a
    new run of `experiment_id` tagged with the lineage; register it as
    `name` and point `alias` at the new version.

    The LoggedModel gets the training run's key params, the serving settings and the validation metrics of the
    checkpoint's epoch; the version gets the tags `checkpoint` and `source_run_id` and a description (see `lineage`).
    A training run keeps its status; a new run ends FINISHED (FAILED if registering fails).
    """
    client = mlflow.MlflowClient(uri)
    run = training_run(client, lineage.run_id)
    in_training_run = run is not None
    if run is None:
        tags = {COMMAND_TAG: REGISTER_COMMAND, **lineage.tags()}
        run = client.create_run(experiment_id, run_name=f"register {lineage.checkpoint}", tags=tags)
    run_id = run.info.run_id
    try:
        with using_store(uri):  # the registry finds a version's `models:/m-...` source through the fluent store
            step = lineage.step
            if in_training_run and step is None:
                step = validation_step(client, run, lineage.epoch)
            metrics = validation_metrics(client, run_id, step) if in_training_run and step is not None else {}
            params = key_params(run.data.params) | serving_params(colorizer, limits)
            model = log_colorizer_model(colorizer, run, limits, params, lineage.tags(), step or 0)
            if metrics:  # the run's own values (same step and time): linked to the model, not logged twice
                linked = [
                    Metric(m.key, m.value, m.timestamp, m.step, model_id=model.model_id) for m in metrics.values()
                ]
                client.log_batch(run_id, metrics=linked)
            description = describe(lineage, run if in_training_run else None, metrics)
            version = _create_version(client, name, model.model_id, run_id, lineage.tags(), description)
        client.set_registered_model_alias(name, alias, version)
    except BaseException:
        if not in_training_run:
            client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        raise
    if not in_training_run:
        client.set_tag(run_id, MLFLOW_RUN_NOTE, description)
        client.set_terminated(run_id)
    return Registration(f"models:/{name}@{alias}", version, run_id, model.model_id, in_training_run)


def serving_params(colorizer: Colorizer, limits: ServingLimits) -> dict[str, str]:
    """The settings the served model runs with, as LoggedModel params."""
    return {
        "size": str(colorizer.size),
        "temperature": str(colorizer.temperature),
        "chroma_gain": str(colorizer.chroma_gain),
        **{name: str(value) for name, value in limits.to_config().items()},
    }


def _create_version(
    client: mlflow.MlflowClient, name: str, model_id: str, run_id: str, tags: dict[str, str], description: str
) -> str:
    """A new version of registered model `name` (created if missing) from LoggedModel `model_id` -> its number."""
    try:
        client.create_registered_model(name)
    except MlflowException as error:
        if error.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
    version = client.create_model_version(
        name, f"models:/{model_id}", run_id=run_id, tags=tags, description=description, model_id=model_id
    )
    return str(version.version)
