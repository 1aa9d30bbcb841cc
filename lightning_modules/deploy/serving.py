"""The MLflow pyfunc model that `mlflow models serve` runs: encoded images in, base64 PNGs out.

Request column `image`: the bytes of a photo in any format PIL reads (base64 in JSON; the server
decodes it). Optional columns `hints`, `reference`, `regions` and `blend` guide the colouring of their
row (see `serving_guide`); rows without them are coloured automatically, in batches. Response column
`image`: the colourised photo as a base64 PNG at the input's size.

The whole request is first checked against the model's ServingLimits from image headers and text alone
(`request_check`); then rows are decoded, coloured and encoded CHUNK_ROWS at a time, so time grows linearly
with rows and memory holds one chunk's images. The scoring server runs requests in threads, several at once:
one chunk is coloured at a time (a lock), so concurrent requests share the cores chunk by chunk instead of
oversubscribing them, the worker's memory holds one chunk, and a request over a limit is refused at once, never
waiting behind another's colouring. Requests over a limit, unreadable, empty or too large images and
bad guidance values raise an MlflowException with INVALID_PARAMETER_VALUE naming the row and column, which the
scoring server answers with HTTP 400 and the message.
"""

from __future__ import annotations

import base64
import io
import json
import threading
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
from pseudocolor.lightning_modules.deploy.request_check import check_request
from pseudocolor.lightning_modules.deploy.serving_guide import (
    GUIDE_COLUMNS,
    cell_name,
    parse_row_guide,
    to_bytes,
)
from pseudocolor.lightning_modules.deploy.serving_limits import DEFAULT_LIMITS, ServingLimits, env_name
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.device import resolve_device
from pseudocolor.lightning_modules.inference.model_spec import WEIGHTS_ARTIFACT

IMAGE_COLUMN = "image"
CONFIG_ARTIFACT = "config"
DEFAULT_SERVING_MAX_PIXELS = ServingLimits.max_pixels  # per image
MAX_PIXELS_ENV = env_name("max_pixels")  # PSEUDOCOLOR_MAX_PIXELS: overrides the registered limit at serve time
CHUNK_ROWS = 16  # rows decoded and coloured together: one network batch at most, bounded memory


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
        """Read the limits from the `config` artifact, each overridden by its PSEUDOCOLOR_* variable when set."""
        config = json.loads(Path(context.artifacts[CONFIG_ARTIFACT]).read_text())
        self.limits = ServingLimits.from_config(config)
        self.colorizer = Colorizer.load(context.artifacts[WEIGHTS_ARTIFACT], resolve_device("auto"))
        self.colouring = threading.Lock()  # one chunk at a time, whatever the server's threads

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """DataFrame with an `image` column of encoded photos (+ optional guidance columns) -> DataFrame
        with `image` base64 PNGs, one row per input row."""
        if not isinstance(model_input, pd.DataFrame) or IMAGE_COLUMN not in model_input.columns:
            raise _invalid(f"the request has no '{IMAGE_COLUMN}' column; send dataframe_split with that column")
        images = model_input[IMAGE_COLUMN].tolist()
        guide_values = model_input.reindex(columns=list(GUIDE_COLUMNS)).to_dict("records")  # absent columns: NaN
        try:
            check_request(images, guide_values, self.limits)
            encoded = []
            for start in range(0, len(images), CHUNK_ROWS):
                rows = range(start, min(start + CHUNK_ROWS, len(images)))
                with self.colouring:
                    encoded += self._colorize_rows(
                        rows, [images[row] for row in rows], [guide_values[row] for row in rows]
                    )
        except PseudocolorError as error:
            raise _invalid(str(error)) from error
        return pd.DataFrame({IMAGE_COLUMN: encoded})

    def _colorize_rows(self, rows: range, images: list[object], guide_values: list[dict]) -> list[str]:
        """One chunk: decode its images and guidance, colour its automatic rows in one batch and its guided rows
        one by one -> base64 PNGs in row order. Raises PseudocolorError naming the row and column."""
        decoded, guides = [], []
        for row, value, values in zip(rows, images, guide_values, strict=True):
            name = cell_name(row, IMAGE_COLUMN)
            image = decode_image_bytes(to_bytes(value, name), self.limits.max_pixels, name)
            decoded.append(image)
            guides.append(parse_row_guide(values, row, tuple(image.shape[-2:]), self.limits.max_reference_pixels))
        automatic = [index for index, guide in enumerate(guides) if not guide.active]
        colored = dict(zip(automatic, self.colorizer.colorize_batch([decoded[index] for index in automatic])))
        for index, guide in enumerate(guides):
            if guide.active:
                try:
                    colored[index] = to_uint8(guide.colorize(self.colorizer, decoded[index]))
                except PseudocolorError as error:  # e.g. guidance for a model without hint inputs
                    raise PseudocolorError(f"row {rows[index]}: {error}") from error
        return [encode_png_base64(colored[index]) for index in range(len(decoded))]


def write_serving_config(path: Path, limits: ServingLimits = DEFAULT_LIMITS) -> Path:
    """The `config` artifact: the limits (`ServingLimits.to_config`) as plain JSON, read by
    ColorizerModel.load_context."""
    path.write_text(json.dumps(limits.to_config()))
    return path
