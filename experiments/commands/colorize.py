"""`pseudocolor colorize INPUT... --output DIR`: colour files, folders (recursive) and globs of photos.

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
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

from pseudocolor.datamodules.color_space import to_uint8
from pseudocolor.datamodules.decoding import ImageDecodeError, decode_image, list_images
from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.datamodules.masks import MaskLoadError, load_masks
from pseudocolor.lightning_modules.guided.guidance import Guidance
from pseudocolor.lightning_modules.guided.hints import parse_hint
from pseudocolor.lightning_modules.guided.regions import REFERENCE_MODES, PointHint, Region, prepare_reference
from pseudocolor.lightning_modules.guided.segmentation import (
    DEFAULT_MIN_SIZE,
    WEIGHTS_URL,
    Box,
    InstanceSegmenter,
    RegionFallbackWarning,
    box_regions,
    check_box,
    largest_region,
    parse_box,
)
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.device import resolve_device
from pseudocolor.lightning_modules.inference.model_spec import PRETRAINED

FORMATS = {"png": ".png", "jpg": ".jpg", "same": None}
JPEG_QUALITY = 95
SEGMENTER_MISSING = (
    f"--box-region and --auto-region need --segmenter-weights FILE: download {WEIGHTS_URL} and pass its path"
)


@dataclass(frozen=True)
class Job:
    """One input photo and the file its colourised version goes to."""

    source: Path
    output: Path


def _expand(item: str) -> Iterator[tuple[Path, Path]]:
    """One INPUT -> (photo, output path relative to --output); folders keep their sub-folder layout."""
    path = Path(item)
    if path.is_dir():
        yield from ((file, file.relative_to(path)) for file in list_images(path))
    elif path.is_file():
        yield path, Path(path.name)
    else:
        for match in sorted(glob.glob(item, recursive=True)):
            yield from _expand(match) if Path(match).is_dir() else [(Path(match), Path(Path(match).name))]


def plan_jobs(inputs: list[str], output_dir: Path, image_format: str) -> tuple[list[Job], list[str]]:
    """INPUTs -> (jobs, errors): inputs matching nothing and outputs claimed twice are errors."""
    jobs, errors, claimed, seen = [], [], {}, set()
    for item in inputs:
        found = list(_expand(item))
        if not found:
            errors.append(f"{item}: no such file, folder or glob match; check the path")
        for source, relative in found:
            if source.resolve() in seen:
                continue
            seen.add(source.resolve())
            output = output_dir / relative.with_suffix(FORMATS[image_format] or source.suffix.lower())
            if output in claimed:
                errors.append(f"{source}: its output {output} is taken by {claimed[output]}; rename one of them")
                continue
            claimed[output] = source
            jobs.append(Job(source, output))
    return jobs, errors


def _read(jobs: list[Job]) -> list[tuple[Job, torch.Tensor | ImageDecodeError]]:
    results = []
    for job in jobs:
        try:
            results.append((job, decode_image(job.source)))
        except ImageDecodeError as error:
            results.append((job, error))
    return results


def _save(image: torch.Tensor, path: Path) -> None:
    """(3, H, W) uint8 RGB -> an image file whose format follows the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(image.permute(1, 2, 0).cpu().numpy())
    picture.save(path, **({"quality": JPEG_QUALITY} if path.suffix in (".jpg", ".jpeg") else {}))


def colorize_jobs(colorizer: Colorizer, jobs: list[Job], batch_size: int, progress: bool = True) -> tuple[int, list[str]]:
    """Colour and write every job, `batch_size` photos per network call -> (number written, failure messages).

    The next batch is decoded in a background thread while the current one is on the device.
    """
    batches = [jobs[i : i + batch_size] for i in range(0, len(jobs), batch_size)]
    written, failures = 0, []
    with ThreadPoolExecutor(max_workers=1) as reader, tqdm(total=len(jobs), unit="img", disable=not progress) as bar:
        pending = reader.submit(_read, batches[0]) if batches else None
        for index in range(len(batches)):
            decoded = pending.result()
            if index + 1 < len(batches):
                pending = reader.submit(_read, batches[index + 1])
            good = [(job, image) for job, image in decoded if isinstance(image, torch.Tensor)]
            for job, error in decoded:
                if isinstance(error, ImageDecodeError):
                    failures.append(str(error))
                    bar.write(f"failed: {error}", file=sys.stderr)
            outputs = colorizer.colorize_batch([image for _, image in good])
            for (job, _), colored in zip(good, outputs):
                try:
                    _save(colored, job.output)
                    written += 1
                except OSError as error:
                    failures.append(f"{job.output}: cannot be written ({error}); check the output folder")
                    bar.write(f"failed: {failures[-1]}", file=sys.stderr)
            bar.update(len(decoded))
    return written, failures


class GuideError(PseudocolorError):
    """A guidance flag (--hint, --reference, --region, --box-region, ...) that cannot be used; names it."""


@dataclass
class GuidanceFlags:
    """Parsed guidance flags: point hints, whole-image reference, (mask file, reference) regions,
    (box, reference) regions, the reference of the automatic region and how references give colour."""

    hints: list[PointHint]
    reference: torch.Tensor | None
    regions: list[tuple[Path, torch.Tensor]]
    blend: str
    boxes: list[tuple[Box, torch.Tensor]]
    auto_reference: torch.Tensor | None
    reference_mode: str = "transfer"

    @property
    def active(self) -> bool:
        return bool(self.hints or self.reference is not None or self.regions or self.segmenting)

    @property
    def segmenting(self) -> bool:
        """Whether the regions need an InstanceSegmenter."""
        return bool(self.boxes or self.auto_reference is not None)


def _read_reference(path: str, flag: str, cache: dict[str, torch.Tensor]) -> torch.Tensor:
    """A reference file -> (3, h, w) RGB or (4, h, w) RGBA uint8, checked that it can give colour."""
    if path not in cache:
        try:
            cache[path] = decode_image(path, alpha=True)
        except ImageDecodeError as error:
            raise GuideError(f"{flag}: reference {error}") from error
        try:
            prepare_reference(cache[path], name=f"reference {path}")
        except PseudocolorError as error:
            raise GuideError(f"{flag}: {error}") from error
    return cache[path]


def parse_guide(
    hints: list[str],
    reference: str | None,
    regions: list[str],
    blend: str,
    boxes: Sequence[str] = (),
    auto_region: str | None = None,
    reference_mode: str = "transfer",
) -> GuidanceFlags:
    """The guidance flags -> GuidanceFlags; raises GuideError naming the flag and file."""
    try:
        points = [parse_hint(text) for text in hints]
    except PseudocolorError as error:
        raise GuideError(f"--hint: {error}") from error
    cache: dict[str, torch.Tensor] = {}
    pairs = []
    for text in regions:
        mask, sep, ref = text.rpartition("=")
        if not sep or not mask or not ref:
            raise GuideError(f"--region {text!r}: expected MASK.png=REFERENCE.jpg (split on the last '=')")
        pairs.append((Path(mask), _read_reference(ref, f"--region {text}", cache)))
    box_pairs = []
    for text in boxes:
        box, sep, ref = text.partition("=")
        if not sep or not ref:
            raise GuideError(f"--box-region {text!r}: expected X0,Y0,X1,Y1=REFERENCE.jpg")
        try:
            box_pairs.append((parse_box(box), _read_reference(ref, f"--box-region {text}", cache)))
        except PseudocolorError as error:
            raise GuideError(f"--box-region: {error}") from error
    whole = None if reference is None else _read_reference(reference, "--reference", cache)
    auto = None if auto_region is None else _read_reference(auto_region, "--auto-region", cache)
    return GuidanceFlags(points, whole, pairs, blend, box_pairs, auto, reference_mode)


def _detected_regions(segmenter: InstanceSegmenter, image: torch.Tensor, guide: GuidanceFlags, source: Path) -> list[Region]:
    """The --auto-region then the --box-region regions of one input, from one detection pass; fallbacks are
    reported on stderr."""
    for box, _ in guide.boxes:
        try:
            check_box(box, tuple(image.shape[-2:]))
        except PseudocolorError as error:
            raise GuideError(f"--box-region: {error} (input {source})") from error
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RegionFallbackWarning)
        found = segmenter.masks(image)
        largest = None if guide.auto_reference is None else largest_region(found, guide.auto_reference)
        regions = [*([] if largest is None else [largest]), *box_regions(found, guide.boxes)]
    for warning in caught:
        if issubclass(warning.category, RegionFallbackWarning):
            tqdm.write(f"warning: {source}: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    return regions


def colorize_guided(
    colorizer: Colorizer,
    jobs: list[Job],
    guide: GuidanceFlags,
    progress: bool = True,
    segmenter: InstanceSegmenter | None = None,
) -> tuple[int, list[str]]:
    """Colour each job alone with the guidance -> (number written, failure messages).

    Regions go auto, boxes, masks: later ones win where they overlap. `segmenter` is needed for box and
    automatic regions. Raises GuideError (naming the mask, box or hint) when one does not fit an input.
    """
    if guide.segmenting and segmenter is None:
        raise GuideError(SEGMENTER_MISSING)
    written, failures = 0, []
    for job in tqdm(jobs, unit="img", disable=not progress):
        try:
            image = decode_image(job.source)
        except ImageDecodeError as error:
            failures.append(str(error))
            tqdm.write(f"failed: {error}", file=sys.stderr)
            continue
        size = tuple(image.shape[-2:])
        regions = _detected_regions(segmenter, image, guide, job.source) if guide.segmenting else []
        for mask_path, reference in guide.regions:
            try:
                (mask,) = load_masks(mask_path, size)
            except MaskLoadError as error:
                raise GuideError(f"--region: {error} (input {job.source})") from error
            regions.append(Region(mask, reference, name=str(mask_path)))
        try:
            guidance = Guidance(guide.hints, guide.reference, regions, guide.blend, guide.reference_mode)
            coloured = guidance.colorize(colorizer, image)
        except PseudocolorError as error:
            raise GuideError(f"{job.source}: {error}") from error
        try:
            _save(to_uint8(coloured), job.output)
            written += 1
        except OSError as error:
            failures.append(f"{job.output}: cannot be written ({error}); check the output folder")
            tqdm.write(f"failed: {failures[-1]}", file=sys.stderr)
    return written, failures


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pseudocolor colorize", description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="photo files, folders (recursive) or globs")
    parser.add_argument("--output", "-o", required=True, type=Path, help="folder for the coloured photos")
    parser.add_argument(
        "--model",
        default=PRETRAINED,
        help="model spec: .ckpt, weights file, models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/PATH "
        "or pretrained (default)",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--batch-size", type=int, default=16, help="photos per network call (default 16)")
    parser.add_argument("--format", choices=tuple(FORMATS), default="png", help="output format (default png)")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    guided = parser.add_argument_group("guided colouring (each input is then coloured on its own)")
    guided.add_argument(
        "--hint", action="append", default=[], metavar="X,Y,#RRGGBB",
        help="colour hint at pixel column X, row Y of the input (repeatable)",
    )
    guided.add_argument(
        "--reference", metavar="REF",
        help="picture whose colours guide the whole image (transparent pixels, alpha 0, give no colour)",
    )
    guided.add_argument(
        "--region", action="append", default=[], metavar="MASK=REF",
        help="mask PNG (the input's size, nonzero inside) coloured from reference REF (repeatable; split on the last "
        "'='; transparent pixels of REF give no colour)",
    )
    guided.add_argument(
        "--blend", choices=("poisson", "feather"), default="poisson", help="how regions meet the background"
    )
    guided.add_argument(
        "--reference-mode", choices=REFERENCE_MODES, default="transfer",
        help="transfer (default): each pixel takes the colour of matching content in the reference, the network's "
        "colour where nothing matches; histogram: the reference's colour histogram only steers the network",
    )
    auto = parser.add_argument_group("automatic regions (Mask R-CNN; needs --segmenter-weights)")
    auto.add_argument(
        "--box-region", action="append", default=[], metavar="X0,Y0,X1,Y1=REF",
        help="colour the instance detected in this box (pixels; the box itself if none is) from REF (repeatable)",
    )
    auto.add_argument(
        "--auto-region", metavar="REF", help="colour the largest detected instance from REF (none found: automatic)"
    )
    auto.add_argument(
        "--segmenter-weights", type=Path, metavar="FILE",
        help=f"torchvision Mask R-CNN COCO state dict, e.g. {WEIGHTS_URL.rsplit('/', 1)[1]}",
    )
    auto.add_argument(
        "--segmenter-size", type=int, default=DEFAULT_MIN_SIZE, metavar="PIXELS",
        help=f"short side the detector resizes photos to (default {DEFAULT_MIN_SIZE}; smaller is faster on CPU)",
    )
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.batch_size < 1:
        print(f"error: --batch-size must be at least 1, got {args.batch_size}", file=sys.stderr)
        return 2
    try:
        guide = parse_guide(
            args.hint, args.reference, args.region, args.blend, args.box_region, args.auto_region, args.reference_mode
        )
        if guide.segmenting and args.segmenter_weights is None:
            raise GuideError(SEGMENTER_MISSING)
        if args.segmenter_size < 32:
            raise GuideError(f"--segmenter-size must be at least 32 pixels, got {args.segmenter_size}")
        device = resolve_device(args.device)
        segmenter = (
            InstanceSegmenter.load(args.segmenter_weights, device, args.segmenter_size) if guide.segmenting else None
        )
        colorizer = Colorizer.load(args.model, device)
    except PseudocolorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    jobs, failures = plan_jobs(args.inputs, args.output, args.format)
    for failure in failures:
        print(f"failed: {failure}", file=sys.stderr)
    todo = [job for job in jobs if args.overwrite or not job.output.exists()]
    start = time.perf_counter()
    if guide.active:
        try:
            done, run_failures = colorize_guided(colorizer, todo, guide, args.progress, segmenter)
        except PseudocolorError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    else:
        done, run_failures = colorize_jobs(colorizer, todo, args.batch_size, args.progress)
    failures += run_failures
    seconds = time.perf_counter() - start
    skipped = len(jobs) - len(todo)
    skipped_note = f", {skipped} skipped (output exists; --overwrite to redo)" if skipped else ""
    print(
        f"colorized {done} images, {len(failures)} failed{skipped_note} "
        f"in {seconds:.1f} s ({done / max(seconds, 1e-9):.1f} images/s) -> {args.output}"
    )
    return 1 if failures else 0
