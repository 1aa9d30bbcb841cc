"""ONNX export of a Colorizer's network with dynamic batch, height and width, and its parity check.

The ONNX graph maps (B, 1, H, W) L in [0, 100] to (B, 2, ceil(H/4), ceil(W/4)) ab by annealed-mean
decoding, exactly `predict_ab`; resizing L to the network size and composing the full-resolution
photo stay with the caller (the `pseudocolor.size` metadata says which size the model was trained at).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.prediction import predict_ab

INPUT_NAME, OUTPUT_NAME = "l", "ab"
EXAMPLE_SHAPE = (2, 1, 70, 90)  # sides that are not multiples of 16, so the padding path is traced
PARITY_SHAPES = ((1, 1, 256, 256), (3, 1, 70, 50), (2, 1, 33, 97))
MAX_SIDE = 16384


class AbPredictor(nn.Module):
    """(B, 1, H, W) L in [0, 100] -> (B, 2, ceil(H/4), ceil(W/4)) ab: the network plus decoding."""

    def __init__(self, colorizer: Colorizer) -> None:
        super().__init__()
        self.network = colorizer.network
        self.temperature = colorizer.temperature
        self.chroma_gain = colorizer.chroma_gain

    def forward(self, l: torch.Tensor) -> torch.Tensor:
        return predict_ab(self.network, l, temperature=self.temperature, chroma_gain=self.chroma_gain)


def export_onnx(colorizer: Colorizer, path: str | Path) -> Path:
    """Write `colorizer` as an ONNX file with dynamic batch, height and width (H, W >= 16)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = AbPredictor(colorizer).cpu().eval()
    example = torch.rand(EXAMPLE_SHAPE) * 100
    shapes = {
        INPUT_NAME: {
            0: torch.export.Dim("batch"),
            2: torch.export.Dim("height", min=16, max=MAX_SIDE),
            3: torch.export.Dim("width", min=16, max=MAX_SIDE),
        }
    }
    torch.onnx.export(
        module,
        (example,),
        str(path),
        dynamo=True,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_shapes=shapes,
        external_data=False,
        verbose=False,
    )
    model = onnx.load(str(path))
    onnx.helper.set_model_props(
        model,
        {
            "pseudocolor.size": str(colorizer.size),
            "pseudocolor.temperature": str(colorizer.temperature),
            "pseudocolor.chroma_gain": str(colorizer.chroma_gain),
        },
    )
    onnx.save(model, str(path))
    return path


def onnx_parity(colorizer: Colorizer, path: str | Path, shapes=PARITY_SHAPES, seed: int = 0) -> float:
    """Largest |ab| difference between onnxruntime on `path` and PyTorch over random L of `shapes`."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    module = AbPredictor(colorizer).cpu().eval()
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    for shape in shapes:
        l = torch.rand(shape, generator=generator) * 100
        with torch.no_grad():
            expected = module(l).numpy()
        actual = session.run([OUTPUT_NAME], {INPUT_NAME: l.numpy()})[0]
        if actual.shape != expected.shape:
            raise RuntimeError(f"{path}: ONNX ab has shape {actual.shape} for L {shape}, PyTorch {expected.shape}")
        worst = max(worst, float(np.abs(actual - expected).max()))
    return worst
