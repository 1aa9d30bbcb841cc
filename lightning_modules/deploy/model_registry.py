"""Logging a Colorizer as an MLflow pyfunc model and registering it under a name and alias.

The model holds the fp16 weights and a JSON config as artifacts, as code only the `pseudocolor` modules that
serving imports (see `served_code`), pinned pip requirements (no Lightning), a signature (binary `image` and the optional
guidance columns `hints`, `reference`, `regions`, `blend` in, base64 PNG `image` out) and a small JPEG as
input example.
"""

from __future__ import annotations

import io
import tempfile
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, Schema
from PIL import Image

from pseudocolor.lightning_modules.deploy.served_code import copy_served_code
from pseudocolor.lightning_modules.deploy.serving import (
    CONFIG_ARTIFACT,
    DEFAULT_SERVING_MAX_PIXELS,
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


def log_colorizer_model(
    colorizer: Colorizer, registered_model_name: str | None = None, max_pixels: int = DEFAULT_SERVING_MAX_PIXELS
) -> mlflow.models.model.ModelInfo:
    """Log `colorizer` as a pyfunc model named `model` into the active run (registered when a name is given)."""
    with tempfile.TemporaryDirectory(prefix="pseudocolor-register-") as folder:
        folder = Path(folder)
        weights = colorizer.save_weights(folder / "weights.pt", half=True)
        config = write_serving_config(folder / "config.json", max_pixels)
        code_paths = [str(copy_served_code(SERVING_ENTRY, folder / "code"))]
        return mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=str(SERVING_ENTRY),
            artifacts={WEIGHTS_ARTIFACT: str(weights), CONFIG_ARTIFACT: str(config)},
            code_paths=code_paths,
            pip_requirements=pip_requirements(),
            signature=SIGNATURE,
            input_example=input_example(),
            registered_model_name=registered_model_name,
        )


def register_colorizer(
    colorizer: Colorizer,
    name: str,
    uri: str,
    alias: str = DEFAULT_ALIAS,
    run_id: str | None = None,
    experiment_id: str | None = None,
    max_pixels: int = DEFAULT_SERVING_MAX_PIXELS,
) -> tuple[str, str]:
    """Log `colorizer` into run `run_id` (or a new run in `experiment_id`) of the store at `uri`, register
    it as `name` and point `alias` at the new version -> (model URI `models:/NAME@ALIAS`, version)."""
    nested = mlflow.active_run() is not None
    with using_store(uri), mlflow.start_run(run_id=run_id, experiment_id=experiment_id, nested=nested):
        info = log_colorizer_model(colorizer, registered_model_name=name, max_pixels=max_pixels)
    version_number = str(info.registered_model_version)
    mlflow.MlflowClient(uri).set_registered_model_alias(name, alias, version_number)
    return f"models:/{name}@{alias}", version_number
