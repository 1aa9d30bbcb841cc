"""`pseudocolor export --model SPEC --format onnx|weights --output FILE`: a model for other runtimes.

`onnx`: the network with annealed-mean decoding, dynamic batch/height/width, checked against PyTorch
(the largest ab difference is printed; exit status 1 above the tolerance). `weights`: the fp16 state
dict plus config that `--model FILE` and `Colorizer.load` read.
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
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        colorizer = Colorizer.load(args.model, "cpu")
    except PseudocolorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
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
        print(f"error: ONNX export needs {error.name}; install it with: pip install -e \".[onnx]\"", file=sys.stderr)
        return 2

    path = export_onnx(colorizer, args.output)
    difference = onnx_parity(colorizer, path)
    print(f"wrote ONNX of {args.model} to {path} ({path.stat().st_size / 1e6:.1f} MB); "
          f"parity with PyTorch: max |ab difference| = {difference:.2e} (tolerance {PARITY_TOLERANCE:.0e})")
    if difference > PARITY_TOLERANCE:
        print(f"error: {path} differs from PyTorch by {difference:.2e} on ab; do not deploy it", file=sys.stderr)
        return 1
    return 0
