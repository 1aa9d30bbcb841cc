"""`pseudocolor export --model SPEC --format onnx|weights --output FILE`: a model for other runtimes.

`onnx`: the network with annealed-mean decoding, dynamic batch/height/width, checked against PyTorch
(the largest ab difference is printed; exit status 1 above the tolerance). `weights`: the fp16 state
dict plus config that `--model FILE` and `Colorizer.load` read. `--temperature` and `--chroma-gain` replace the
model's decoding settings in what is written (chosen on validation photos after training; see README).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.lightning_modules.inference.colorizer import Colorizer

PARITY_TOLERANCE = 1e-3  # ab units (a and b span about -110..110)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pseudocolor export", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", required=True, help="model spec: .ckpt, weights file, models:/..., runs:/... or pretrained"
    )
    parser.add_argument("--format", choices=("onnx", "weights"), required=True)
    parser.add_argument("--output", "-o", required=True, type=Path, help="file to write")
    parser.add_argument(
        "--temperature", type=float, help="annealed-mean temperature to decode with (default: the model's)"
    )
    parser.add_argument(
        "--chroma-gain", type=float, help="factor on the decoded colours, > 1 more vivid (default: the model's, 1.0)"
    )
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        colorizer = Colorizer.load(args.model, "cpu")
        if (args.temperature is not None and args.temperature <= 0) or (
            args.chroma_gain is not None and args.chroma_gain <= 0
        ):
            raise PseudocolorError(
                f"--temperature and --chroma-gain must be positive, got {args.temperature}, {args.chroma_gain}"
            )
    except PseudocolorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    colorizer.temperature = colorizer.temperature if args.temperature is None else args.temperature
    colorizer.chroma_gain = colorizer.chroma_gain if args.chroma_gain is None else args.chroma_gain
    if args.format == "weights":
        path = colorizer.save_weights(args.output, half=True)
        print(f"wrote fp16 weights of {args.model} to {path} ({path.stat().st_size / 1e6:.1f} MB)")
        return 0
    try:
        from pseudocolor.lightning_modules.deploy.onnx_export import (  # torch.onnx is slow to import
            export_onnx,
            onnx_parity,
        )
    except ModuleNotFoundError as error:
        print(f'error: ONNX export needs {error.name}; install it with: pip install -e ".[onnx]"', file=sys.stderr)
        return 2

    path = export_onnx(colorizer, args.output)
    difference = onnx_parity(colorizer, path)
    print(
        f"wrote ONNX of {args.model} to {path} ({path.stat().st_size / 1e6:.1f} MB); "
        f"parity with PyTorch: max |ab difference| = {difference:.2e} (tolerance {PARITY_TOLERANCE:.0e})"
    )
    if difference > PARITY_TOLERANCE:
        print(f"error: {path} differs from PyTorch by {difference:.2e} on ab; do not deploy it", file=sys.stderr)
        return 1
    return 0
