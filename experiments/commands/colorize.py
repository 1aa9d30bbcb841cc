"""`pseudocolor colorize INPUT... --output DIR`: colour files, folders (recursive) and globs of photos, and video clips.

Each input gets one output at its full size whose L is the input's; a bad file is reported by name and
skipped, and the exit status is 1 when any input failed (2 for a bad model or flag).

Guided colouring: with --hint X,Y,#RRGGBB (pixels of the input, repeatable), --reference REF (whole-image
colour reference) or --region MASK=REF (a mask PNG the input's size, coloured from REF; repeatable, later
regions win), each input is coloured on its own through `guidance.Guidance`, --blend
picks how regions meet the background (poisson, the default, or feather) and --reference-mode how a reference
gives colour (transfer, the default, or histogram; see `guided.regions`). Transparent pixels of a reference
(alpha 0) never give colour. A flag that does not fit (bad hint, unreadable, tiny or grey reference, missing,
wrongly sized or empty mask) stops the run with exit status 2.

Automatic regions (`segmentation.InstanceSegmenter`, Mask R-CNN weights from --segmenter-weights):
--box-region X0,Y0,X1,Y1=REF colours the instance detected in the box (the box itself when none is) and
--auto-region REF the largest detected instance (nothing, with a warning naming the input, when none is).

Video clips (files or globs with a suffix in VIDEO_SUFFIXES; folders are searched for photos only) become
`<output>/<name>.mp4`, coloured frame after frame with colours that stay put (`colorize_video`); --reference guides the
whole clip and --keyframe N=REF the frames from N on; --per-frame colours each frame alone.

This module only parses the command line, so that `--help` and a mistyped flag answer at once; the work, with
torch, kornia and the model, is in `colorize_run`, imported once the flags are read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FORMATS = {"png": ".png", "jpg": ".jpg", "same": None}  # --format -> output suffix (None: the input's)
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")  # inputs coloured as clips (any case), written as .mp4
# Defaults and choices that --help shows, written out here because the modules that own them import torch (and
# segmentation torchvision's detection models): seconds that `--help` should not wait for.
# tests/experiments/test_cli_startup.py checks that they equal model_spec.PRETRAINED, regions.REFERENCE_MODES,
# segmentation.DEFAULT_MIN_SIZE and segmentation.WEIGHTS_URL.
PRETRAINED = "pretrained"
REFERENCE_MODES = ("transfer", "histogram")
SEGMENTER_MIN_SIZE = 800
SEGMENTER_WEIGHTS_URL = "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"
SEGMENTER_WEIGHTS_FILE = SEGMENTER_WEIGHTS_URL.rsplit("/", 1)[1]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pseudocolor colorize", description=__doc__.splitlines()[0])
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help=f"photo files, folders (recursive) or globs; video clips ({' '.join(VIDEO_SUFFIXES)}) as files or globs",
    )
    parser.add_argument("--output", "-o", required=True, type=Path, help="folder for the coloured photos and clips")
    parser.add_argument(
        "--model",
        default=PRETRAINED,
        help="model spec: .ckpt, weights file, models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/PATH "
        "or pretrained (default)",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument(
        "--batch-size", type=int, default=16, help="photos (or frames of a clip) per network call (default 16)"
    )
    parser.add_argument("--format", choices=tuple(FORMATS), default="png", help="output format (default png)")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    guided = parser.add_argument_group("guided colouring (each input is then coloured on its own)")
    guided.add_argument(
        "--hint",
        action="append",
        default=[],
        metavar="X,Y,#RRGGBB",
        help="colour hint at pixel column X, row Y of the input (repeatable)",
    )
    guided.add_argument(
        "--reference",
        metavar="REF",
        help="picture whose colours guide the whole image (transparent pixels, alpha 0, give no colour)",
    )
    guided.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="MASK=REF",
        help="mask PNG (the input's size, nonzero inside) coloured from reference REF (repeatable; split on the last "
        "'='; transparent pixels of REF give no colour)",
    )
    guided.add_argument(
        "--blend", choices=("poisson", "feather"), default="poisson", help="how regions meet the background"
    )
    guided.add_argument(
        "--reference-mode",
        choices=REFERENCE_MODES,
        default="transfer",
        help="transfer (default): each pixel takes the colour of matching content in the reference, the network's "
        "colour where nothing matches; histogram: the reference's colour histogram only steers the network",
    )
    video = parser.add_argument_group("video clips")
    video.add_argument(
        "--keyframe",
        action="append",
        default=[],
        metavar="N=REF",
        help="colour the frames from frame N (0 is the first) on from reference REF, until the next keyframe "
        "(repeatable; --reference is the reference from frame 0)",
    )
    video.add_argument(
        "--per-frame",
        dest="consistent",
        action="store_false",
        help="colour each frame alone (faster; colours flicker) instead of carrying colours along the motion",
    )
    auto = parser.add_argument_group("automatic regions (Mask R-CNN; needs --segmenter-weights)")
    auto.add_argument(
        "--box-region",
        action="append",
        default=[],
        metavar="X0,Y0,X1,Y1=REF",
        help="colour the instance detected in this box (pixels; the box itself if none is) from REF (repeatable)",
    )
    auto.add_argument(
        "--auto-region", metavar="REF", help="colour the largest detected instance from REF (none found: automatic)"
    )
    auto.add_argument(
        "--segmenter-weights",
        type=Path,
        metavar="FILE",
        help=f"torchvision Mask R-CNN COCO state dict, e.g. {SEGMENTER_WEIGHTS_FILE}",
    )
    auto.add_argument(
        "--segmenter-size",
        type=int,
        default=SEGMENTER_MIN_SIZE,
        metavar="PIXELS",
        help=f"short side the detector resizes photos to (default {SEGMENTER_MIN_SIZE}; smaller is faster on CPU)",
    )
    return parser


def main(argv: list[str]) -> int:
    """Run `pseudocolor colorize` with `argv` (the arguments after `colorize`) -> exit status."""
    args = _parser().parse_args(argv)
    if args.batch_size < 1:
        print(f"error: --batch-size must be at least 1, got {args.batch_size}", file=sys.stderr)
        return 2
    # Imported only now that the flags are read: torch, kornia and the model code take seconds to import (more than
    # the rest of a small run), which --help and a bad flag need not wait for; see tests/experiments/test_cli_startup.py.
    from pseudocolor.experiments.commands.colorize_run import run

    return run(args)
