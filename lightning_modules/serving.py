"""The MLflow pyfunc model that `mlflow models serve` runs: encoded images in, base64 PNGs out.

Request column `image`: the bytes of a photo in any format PIL reads (base64 in JSON; the server
decodes it). Response column `image`: the colourised photo as a base64 PNG at the input's size.
Unreadable, empty or too large images raise an MlflowException with INVALID_PARAMETER_VALUE, which
the scoring server answers with HTTP 400 and the message.
"""

from __future__ import annotations

import base64
import binascii
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

from datamodules.decoding import ImageDecodeError, decode_image_bytes
from lightning_modules.colorizer import Colorizer
from lightning_modules.model_spec import WEIGHTS_ARTIFACT

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
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.colorizer = Colorizer.from_file(context.artifacts[WEIGHTS_ARTIFACT]).to(device)

    def _decode(self, value: object, row: int) -> torch.Tensor:
        name = f"row {row} of column '{IMAGE_COLUMN}'"
        if isinstance(value, str):  # callers that bypass the signature send base64 text
            try:
                value = base64.b64decode(value, validate=True)
            except binascii.Error as error:
                raise _invalid(f"{name}: not valid base64 ({error}); send base64-encoded image bytes") from error
        if not isinstance(value, bytes | bytearray):
            raise _invalid(f"{name}: expected image bytes, got {type(value).__name__}; send base64-encoded image bytes")
        try:
            return decode_image_bytes(bytes(value), self.max_pixels, name)
        except ImageDecodeError as error:
            raise _invalid(str(error)) from error

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """DataFrame with an `image` column of encoded photos -> DataFrame with `image` base64 PNGs."""
        if not isinstance(model_input, pd.DataFrame) or IMAGE_COLUMN not in model_input.columns:
            raise _invalid(f"the request has no '{IMAGE_COLUMN}' column; send dataframe_split with that column")
        images = [self._decode(value, row) for row, value in enumerate(model_input[IMAGE_COLUMN])]
        colored = self.colorizer.colorize_batch(images)
        return pd.DataFrame({IMAGE_COLUMN: [encode_png_base64(image) for image in colored]})


def write_serving_config(path: Path, max_pixels: int = DEFAULT_SERVING_MAX_PIXELS) -> Path:
    """The `config` artifact: plain JSON settings read by ColorizerModel.load_context."""
    path.write_text(json.dumps({"max_pixels": max_pixels}))
    return path
