"""The MLflow pyfunc model that `mlflow models serve` runs: encoded images in, base64 PNGs out.

Request column `image`: the bytes of a photo in any format PIL reads (base64 in JSON; the server
decodes it). Optional columns `hints`, `reference`, `regions` and `blend` guide the colouring of their
row (see `serving_guide`); rows without them are coloured automatically, in one batch. Response column
`image`: the colourised photo as a base64 PNG at the input's size. Unreadable, empty or too large
images and bad guidance values raise an MlflowException with INVALID_PARAMETER_VALUE naming the row and
column, which the scoring server answers with HTTP 400 and the message.
"""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import mlflow
import pandas as pd
import torch
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from PIL import Image

from pseudocolor.datamodules.color_space import to_uint8
from pseudocolor.datamodules.decoding import decode_image_bytes
from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.lightning_modules.deploy.serving_guide import (
    GUIDE_COLUMNS,
    parse_row_guide,
    to_bytes,
)
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.device import resolve_device
from pseudocolor.lightning_modules.inference.model_spec import WEIGHTS_ARTIFACT

IMAGE_COLUMN = "image"
CONFIG_ARTIFACT = "config"
DEFAULT_SERVING_MAX_PIXELS = 16_000_000
MAX_PIXELS_ENV = "PSEUDOCOLOR_MAX_PIXELS"  # lets the operator override the registered limit at serve time


def encode_png_base64(image: torch.Tensor) -> str:
    """(3, H, W) uint8 RGB -> base64 text of a PNG file."""
    buffer = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).cpu().numpy()).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


class ColorizerModel(mlflow.pyfunc.PythonModel):
    """Serves a Colorizer whose weights and config are the model's artifacts (see `write_serving_config`)."""

    def load_context(self, context) -> None:
        config = json.loads(Path(context.artifacts[CONFIG_ARTIFACT]).read_text())
        self.max_pixels = int(os.environ.get(MAX_PIXELS_ENV, config["max_pixels"]))
        self.colorizer = Colorizer.load(context.artifacts[WEIGHTS_ARTIFACT], resolve_device("auto"))

    def _decode(self, value: object, row: int) -> torch.Tensor:
        name = f"row {row} of column '{IMAGE_COLUMN}'"
        try:
            return decode_image_bytes(to_bytes(value, name), self.max_pixels, name)
        except PseudocolorError as error:
            raise _invalid(str(error)) from error

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """DataFrame with an `image` column of encoded photos (+ optional guidance columns) -> DataFrame
        with `image` base64 PNGs, one row per input row."""
        if not isinstance(model_input, pd.DataFrame) or IMAGE_COLUMN not in model_input.columns:
            raise _invalid(f"the request has no '{IMAGE_COLUMN}' column; send dataframe_split with that column")
        images = [self._decode(value, row) for row, value in enumerate(model_input[IMAGE_COLUMN])]
        guide_values = model_input.reindex(columns=list(GUIDE_COLUMNS)).to_dict("records")  # absent columns: NaN
        try:
            guides = [
                parse_row_guide(values, row, tuple(image.shape[-2:]), self.max_pixels)
                for row, (image, values) in enumerate(zip(images, guide_values))
            ]
        except PseudocolorError as error:
            raise _invalid(str(error)) from error
        automatic = [row for row, guide in enumerate(guides) if not guide.active]
        colored = dict(zip(automatic, self.colorizer.colorize_batch([images[row] for row in automatic])))
        for row, guide in enumerate(guides):
            if guide.active:
                try:
                    colored[row] = to_uint8(guide.colorize(self.colorizer, images[row]))
                except PseudocolorError as error:  # e.g. guidance for a model without hint inputs
                    raise _invalid(f"row {row}: {error}") from error
        return pd.DataFrame({IMAGE_COLUMN: [encode_png_base64(colored[row]) for row in range(len(images))]})


def write_serving_config(path: Path, max_pixels: int = DEFAULT_SERVING_MAX_PIXELS) -> Path:
    """The `config` artifact: plain JSON settings read by ColorizerModel.load_context."""
    path.write_text(json.dumps({"max_pixels": max_pixels}))
    return path
