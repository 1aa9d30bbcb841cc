"""The work of `pseudocolor colorize` (`colorize` parses its command line and imports this module only then):
find the inputs, colour them in batches (or one by one with guidance) and write the outputs; video clips go to
`colorize_video` (PyAV, imported only when there are clips).

torchvision's Mask R-CNN code (`segmentation`, seconds to import) is imported only when --box-region or --auto-region
asks for it, so a plain run imports neither it nor torchvision.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image
from tqdm import tqdm

from pseudocolor.datamodules.color_space import ab_to_uint8, to_uint8, uint8_to_l
from pseudocolor.datamodules.decoding import ImageDecodeError, decode_image, list_images
from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.datamodules.masks import MaskLoadError, load_masks
from pseudocolor.experiments.commands.colorize import FORMATS, SEGMENTER_WEIGHTS_URL, VIDEO_SUFFIXES
from pseudocolor.lightning_modules.guided.guidance import Guidance
from pseudocolor.lightning_modules.guided.hints import parse_hint
from pseudocolor.lightning_modules.guided.regions import PointHint, Region, prepare_reference
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.device import resolve_device

if TYPE_CHECKING:
    from pseudocolor.lightning_modules.guided.segmentation import Box, InstanceSegmenter

JPEG_QUALITY = 95
PNG_COMPRESS_LEVEL = 1  # zlib level; Kodak24 outputs: 5 times as fast as Pillow's default 6, 3 % smaller
SAVE_OPTIONS = {
    ".jpg": {"quality": JPEG_QUALITY},
    ".jpeg": {"quality": JPEG_QUALITY},
    ".png": {"compress_level": PNG_COMPRESS_LEVEL},
}
THREADS = min(4, os.cpu_count() or 1)  # per stage: decoding, and putting colour onto photos and encoding them
SEGMENTER_MISSING = (
    f"--box-region and --auto-region need --segmenter-weights FILE: download {SEGMENTER_WEIGHTS_URL} and pass its path"
)


@dataclass(frozen=True)
class Job:
    """One input photo (or video clip) and the file its colourised version goes to."""

    source: Path
    output: Path

    @property
    def is_clip(self) -> bool:
        return is_clip(self.source)


def is_clip(path: Path) -> bool:
    """Whether `colorize` takes `path` for a video clip (by its suffix, any case)."""
    return path.suffix.lower() in VIDEO_SUFFIXES


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
    """INPUTs -> (jobs, errors): inputs matching nothing and outputs claimed twice are errors. Clips get .mp4."""
    jobs, errors, claimed, seen = [], [], {}, set()
    for item in inputs:
        found = list(_expand(item))
        if not found:
            errors.append(f"{item}: no such file, folder or glob match; check the path")
        for source, relative in found:
            if source.resolve() in seen:
                continue
            seen.add(source.resolve())
            suffix = ".mp4" if is_clip(source) else FORMATS[image_format] or source.suffix.lower()
            output = output_dir / relative.with_suffix(suffix)
            if output in claimed:
                errors.append(f"{source}: its output {output} is taken by {claimed[output]}; rename one of them")
                continue
            claimed[output] = source
            jobs.append(Job(source, output))
    return jobs, errors


def _save(image: torch.Tensor, path: Path) -> None:
    """(3, H, W) uint8 RGB -> an image file whose format follows the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image.permute(1, 2, 0).cpu().numpy()).save(path, **SAVE_OPTIONS.get(path.suffix, {}))


def _read(job: Job, colorizer: Colorizer) -> tuple[torch.Tensor, torch.Tensor] | ImageDecodeError:
    """Decode one photo -> its (1, 1, H, W) L in [0, 100] on the colorizer's device and the (1, 1, size, size) L
    the network sees; or the error naming a file that cannot be read."""
    try:
        image = decode_image(job.source)
    except ImageDecodeError as error:
        return error
    l = uint8_to_l(image, colorizer.device)
    return l, colorizer.network_l(l)


def _write(l: torch.Tensor, small_ab: torch.Tensor, output: Path) -> None:
    """(1, 1, H, W) L and the network's (1, 2, h, w) ab for it -> the coloured photo, written to `output`."""
    _save(ab_to_uint8(l, small_ab), output)


def _wait_for_writes(writes: list[tuple[Job, Future]], failures: list[str], bar: tqdm) -> int:
    """Wait for the (job, write) pairs -> how many were written; failures are reported and added to `failures`."""
    written = 0
    for job, write in writes:
        try:
            write.result()
            written += 1
        except OSError as error:
            failures.append(f"{job.output}: cannot be written ({error}); check the output folder")
            bar.write(f"failed: {failures[-1]}", file=sys.stderr)
        bar.update(1)
    return written


def colorize_jobs(
    colorizer: Colorizer, jobs: list[Job], batch_size: int, progress: bool = True
) -> tuple[int, list[str]]:
    """Colour and write every job, `batch_size` photos per network call -> (number written, failure messages).

    The same work as `Colorizer.colorize_batch`, in three overlapping stages: while the network colours one batch,
    thread pools decode the next batch into L and put the previous batch's colour onto its photos' full-size L and
    encode them (that full-size work, not the network, is most of the time on a CPU). At most three batches are held.
    """
    batches = [jobs[i : i + batch_size] for i in range(0, len(jobs), batch_size)]
    written, failures = 0, []
    with (
        ThreadPoolExecutor(THREADS) as readers,
        ThreadPoolExecutor(THREADS) as writers,
        tqdm(total=len(jobs), unit="img", disable=not progress) as bar,
    ):
        reads = [readers.submit(_read, job, colorizer) for job in batches[0]] if batches else []
        writes: list[tuple[Job, Future]] = []
        for index, batch in enumerate(batches):
            inputs = [(job, read.result()) for job, read in zip(batch, reads)]
            if index + 1 < len(batches):
                reads = [readers.submit(_read, job, colorizer) for job in batches[index + 1]]
            good = []
            for job, result in inputs:
                if isinstance(result, ImageDecodeError):
                    failures.append(str(result))
                    bar.write(f"failed: {result}", file=sys.stderr)
                    bar.update(1)
                else:
                    good.append((job, *result))
            small_ab = colorizer.predict_small_ab(torch.cat([small for *_, small in good])) if good else None
            written += _wait_for_writes(writes, failures, bar)
            writes = [
                (job, writers.submit(_write, l, small_ab[i : i + 1], job.output)) for i, (job, l, _) in enumerate(good)
            ]
        written += _wait_for_writes(writes, failures, bar)
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
        from pseudocolor.lightning_modules.guided.segmentation import parse_box  # torchvision: only for boxes

        try:
            box_pairs.append((parse_box(box), _read_reference(ref, f"--box-region {text}", cache)))
        except PseudocolorError as error:
            raise GuideError(f"--box-region: {error}") from error
    whole = None if reference is None else _read_reference(reference, "--reference", cache)
    auto = None if auto_region is None else _read_reference(auto_region, "--auto-region", cache)
    return GuidanceFlags(points, whole, pairs, blend, box_pairs, auto, reference_mode)


def _detected_regions(
    segmenter: InstanceSegmenter, image: torch.Tensor, guide: GuidanceFlags, source: Path
) -> list[Region]:
    """The --auto-region then the --box-region regions of one input, from one detection pass; fallbacks are
    reported on stderr."""
    from pseudocolor.lightning_modules.guided.segmentation import (
        RegionFallbackWarning,
        box_regions,
        check_box,
        largest_region,
    )

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


def parse_keyframes(texts: Sequence[str], reference: torch.Tensor | None) -> list[tuple[int, torch.Tensor]]:
    """--reference and the --keyframe N=REF flags -> (first frame, reference picture) pairs, --reference as frame 0;
    raises GuideError naming the flag."""
    keyframes = [] if reference is None else [(0, reference)]
    cache: dict[str, torch.Tensor] = {}
    for text in texts:
        index, sep, ref = text.partition("=")
        if not sep or not ref or not index.strip().isdigit():
            raise GuideError(f"--keyframe {text!r}: expected N=REFERENCE.jpg with N a frame number (0 is the first)")
        if int(index) in {start for start, _ in keyframes}:
            what = "--reference" if int(index) == 0 and reference is not None else "another --keyframe"
            raise GuideError(f"--keyframe {text!r}: frame {int(index)} already has a reference from {what}; give one")
        keyframes.append((int(index), _read_reference(ref, f"--keyframe {text}", cache)))
    return keyframes


def _clip_flags_error(guide: GuidanceFlags, keyframes: list, clips: list[Job], photos: list[Job]) -> str | None:
    """Why the guidance flags do not fit the inputs' kinds, or None."""
    if clips and (guide.hints or guide.regions or guide.segmenting):
        return (
            f"--hint, --region, --box-region and --auto-region guide photos only, and {clips[0].source} is a video "
            "clip; guide clips with --reference or --keyframe N=REF"
        )
    if keyframes and len(keyframes) > (guide.reference is not None) and not clips:
        return "--keyframe guides video clips, and none of the inputs is one; use --reference for photos"
    return None


def _colorize_clips(colorizer: Colorizer, clips: list[Job], keyframes: list, args: argparse.Namespace):
    """Colour the clip jobs -> (clips written, frames written, failure messages); raises PseudocolorError for a
    reference that cannot guide them."""
    from pseudocolor.experiments.commands.colorize_video import colorize_clips  # PyAV: only when there are clips
    from pseudocolor.lightning_modules.guided.video_references import KeyframeReferences
    from pseudocolor.lightning_modules.inference.video import ConsistencySettings, VideoColorizer

    references = KeyframeReferences(colorizer, keyframes, args.reference_mode) if keyframes else None
    settings = ConsistencySettings() if args.consistent else ConsistencySettings(carry=0)
    return colorize_clips(
        lambda: VideoColorizer(colorizer, settings, references),
        [(job.source, job.output) for job in clips],
        args.batch_size,
        args.progress,
    )


def _report(what: str, failed: int, skipped: int, start: float, count: int, unit: str, output: Path) -> None:
    """Print the summary line of one kind of input: what was coloured, failures, outputs skipped as already there,
    and `count` `unit`s per second since `start` (a perf_counter reading)."""
    seconds = time.perf_counter() - start
    skipped_note = f", {skipped} skipped (output exists; --overwrite to redo)" if skipped else ""
    print(
        f"colorized {what}, {failed} failed{skipped_note} "
        f"in {seconds:.1f} s ({count / max(seconds, 1e-9):.1f} {unit}/s) -> {output}"
    )


def run(args: argparse.Namespace) -> int:
    """Colour the inputs of parsed `colorize` flags (see `colorize._parser`) -> exit status: 0, 1 when any input
    failed, 2 for a bad model or flag."""
    try:
        guide = parse_guide(
            args.hint, args.reference, args.region, args.blend, args.box_region, args.auto_region, args.reference_mode
        )
        keyframes = parse_keyframes(getattr(args, "keyframe", []), guide.reference)
        if guide.segmenting and args.segmenter_weights is None:
            raise GuideError(SEGMENTER_MISSING)
        if args.segmenter_size < 32:
            raise GuideError(f"--segmenter-size must be at least 32 pixels, got {args.segmenter_size}")
        device = resolve_device(args.device)
        segmenter = None
        if guide.segmenting:
            from pseudocolor.lightning_modules.guided.segmentation import InstanceSegmenter  # torchvision: see above

            segmenter = InstanceSegmenter.load(args.segmenter_weights, device, args.segmenter_size)
        colorizer = Colorizer.load(args.model, device)
    except PseudocolorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    jobs, failures = plan_jobs(args.inputs, args.output, args.format)
    clips = [job for job in jobs if job.is_clip]
    jobs = [job for job in jobs if not job.is_clip]
    mismatch = _clip_flags_error(guide, keyframes, clips, jobs)
    if mismatch:
        print(f"error: {mismatch}", file=sys.stderr)
        return 2
    for failure in failures:
        print(f"failed: {failure}", file=sys.stderr)
    status = 1 if failures else 0
    if jobs or not clips:
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
        _report(f"{done} images", len(failures), len(jobs) - len(todo), start, done, "images", args.output)
        status = 1 if failures else 0
        failures = []
    if clips:
        todo = [job for job in clips if args.overwrite or not job.output.exists()]
        start = time.perf_counter()
        try:
            done, frames, clip_failures = _colorize_clips(colorizer, todo, keyframes, args)
        except PseudocolorError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        failures += clip_failures
        _report(
            f"{done} clips ({frames} frames)",
            len(failures),
            len(clips) - len(todo),
            start,
            frames,
            "frames",
            args.output,
        )
        status = max(status, 1 if failures else 0)
    return status
