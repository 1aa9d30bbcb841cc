"""`pseudocolor evaluate DATA... [--model SPEC|gray]`: every metric per image on a pinned protocol, then
mean and std over images, written to a folder and logged to an MLflow run.

Protocol: each colour photo is resized to exactly size x size (aspect ratio ignored, antialiased: the
SIGGRAPH17 ctest10k protocol), coloured from its L channel, the result quantised to 8-bit RGB, and every
metric computed per image on the 0-255 scale. Grey photos are skipped (no colour to recover) and counted;
unreadable files (and photos with a side under MIN_SIDE) are skipped, named with the reason in skipped.txt
and counted; more than --max-bad-fraction of them stops the evaluation (exit status 1) once that is certain,
keeping per_image.csv and skipped.txt of what was done.

Guided evaluation (network models only; the gray baseline takes no hints and refuses these flags):
`--hints N` gives each photo N one-pixel ground-truth ab hints at uniform random positions on the
image the network sees (the size x size photo, resized to the network's side when that differs), drawn
by `HintSampler.points` from a torch.Generator seeded with HINT_SEED + the photo's index in the file
list, so every run and model sees the same hints.

Reference protocols (`guided.reference_protocols`; not together with --hints): a photo's own colours at their
own positions could simply be copied, so the reference is never the photo itself. `--reference self` colours
each size x size photo from the photo mirrored left-right and shrunk to 75 % (the same colours at other
positions and scale). `--region mirrored|rest` colours the centre region (the middle half of each side) from
that mirrored reference, or from the rest of the photo with the region transparent, the background
automatically (or from the whole-photo reference when --reference self is given too), fused with a Poisson
edge (`colorize_with_regions`). `--reference-mode` says how a reference gives colour: "transfer" (exemplar
colour transfer, the default) or "histogram" (the network's global hint only). These photos are coloured one
at a time, and each also automatically, which adds per-image columns: psnr_auto (the automatic colouring's
PSNR), psnr_gain (psnr - psnr_auto) and delta_l (mean |delta L| in CIELAB between the 8-bit output and the
input); with --region also region_psnr and region_psnr_auto (PSNR over the region's pixels and the 3
channels), region_gain (their difference) and outside_delta_ab (mean over the pixels more than
EDGE_MARGIN = 32 px outside the region of the mean over a and b of |ab(output) - ab(automatic)|, both 8-bit).
summary.json holds their means (and region_gain_min, the worst photo's region_gain), logged to MLflow too.

Speed: the DataLoader's worker processes decode and resize (and only they import torchvision) while this one
colours and measures, each batch in slices on as many threads as torch would use; the metrics of a slice are
computed together on one `ImagePair` (each photo's Lab computed once, also what the model is given), and the contact
sheet keeps only the images that can still be among the best or worst. MLflow and matplotlib, seconds to import, are
imported while the workers start (`Tracking.prepare`), and torchmetrics and Lightning not at all.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from pseudocolor.datamodules.color_space import grey_lab, lab_to_rgb, rgb_to_lab, to_uint8
from pseudocolor.datamodules.decoding import is_image_file, list_images, read_list_file
from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.datamodules.image_dataset import (
    DEFAULT_MAX_BAD_FRACTION,
    SKIP_GREY,
    ImageFileDataset,
    collate_images,
    exceeds_bad_fraction,
)
from pseudocolor.lightning_modules.guided.hint_sampler import HintSampler
from pseudocolor.lightning_modules.guided.reference_protocols import (
    EDGE_MARGIN,
    REFERENCE_SCALE,
    centre_mask,
    far_outside,
    mirrored_reference,
    rest_reference,
)
from pseudocolor.lightning_modules.guided.regions import REFERENCE_MODES, Region, colorize_with_regions
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.device import resolve_device
from pseudocolor.lightning_modules.metrics import PER_IMAGE, ImagePair, lab, per_image_values
from pseudocolor.lightning_modules.metrics.fidelity import psnr_of
from pseudocolor.lightning_modules.networks.protocol import require_hints

GRAY = "gray"
EXTREMES = 4  # best and worst images (by PSNR) shown on the contact sheet
NOT_COMPUTED = {
    "lpips": "needs AlexNet weights that torchvision downloads on first use; not available offline",
    "fid": "needs the torch-fidelity package and its Inception weights; not installed",
}

HINT_SEED = (
    0  # the hints of the photo at index i of the file list come from torch.Generator().manual_seed(HINT_SEED + i)
)
REGION_CHOICES = ("none", "mirrored", "rest")
REFERENCE_PROTOCOL = f"the photo mirrored left-right and shrunk to {REFERENCE_SCALE * 100:g} %"
REGION_PROTOCOLS = {
    "none": "no region",
    "mirrored": f"centre region (middle half of each side) from {REFERENCE_PROTOCOL}, the rest automatic",
    "rest": "centre region (middle half of each side) from the rest of the photo (the region transparent), "
    "the rest automatic",
}
CPU_SLICE_PHOTOS = 4  # photos coloured and measured together by one thread on the CPU (see `evaluate_files`)
MIN_REGION_SIZE = 4 * (EDGE_MARGIN + 1)  # px: the smallest --size leaving pixels beyond EDGE_MARGIN of the region
# the columns the reference protocols add, each with whether higher is better (module docstring)
REFERENCE_COLUMNS = {"psnr_auto": True, "psnr_gain": True, "delta_l": False}
REGION_COLUMNS = {"region_psnr": True, "region_psnr_auto": True, "region_gain": True, "outside_delta_ab": False}
HIGHER_IS_BETTER = (
    {name: metric.higher_is_better for name, metric in PER_IMAGE.items()} | REFERENCE_COLUMNS | REGION_COLUMNS
)
ColorizeFn = Callable[..., torch.Tensor]
DEFAULT_EXPERIMENT = "pseudocolor"  # tracking.store.DEFAULT_EXPERIMENT (which imports MLflow); a test checks they agree


@dataclass(frozen=True)
class SimulatedGuidance:
    """Simulated user guidance for a network model: `hints` ground-truth point hints per photo."""

    hints: int = 0
    network_size: int = 256

    @property
    def active(self) -> bool:
        return self.hints > 0

    def inputs(self, rgb: torch.Tensor, indices: list[int]) -> dict[str, torch.Tensor]:
        """(B, 3, S, S) ground-truth RGB in [0, 1] and the photos' file indices -> colorize_l's `local_hints`
        keyword, (B, 3, network_size, network_size)."""
        small = rgb.float()
        if tuple(rgb.shape[-2:]) != (self.network_size, self.network_size):
            side = (self.network_size, self.network_size)
            small = F.interpolate(small, size=side, mode="bilinear", antialias=True).clamp(0, 1)
        lab = rgb_to_lab(small)
        sampler = HintSampler()
        maps = [
            sampler.points(lab[i : i + 1], self.hints, torch.Generator().manual_seed(HINT_SEED + index))
            for i, index in enumerate(indices)
        ]
        return {"local_hints": torch.cat(maps)}


def region_psnr(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """PSNR in dB inside a region: (B, 3, H, W) output and target on the 0-255 scale (uint8 or float), (H, W) bool
    mask -> (B,),
    10 log10(255^2 / MSE) with the MSE over the mask's pixels and the 3 channels."""
    error = (output.float() - target.float()).square().mean(dim=1)[:, mask].mean(dim=1)
    return 10 * torch.log10(255**2 / error.clamp_min(1e-10))


@dataclass(frozen=True)
class ReferenceProtocol:
    """Simulated references for a network model (module docstring): the whole photo's (`reference_self`) and/or
    the centre region's (`region`, "mirrored" or "rest"), giving colour as `reference_mode` says."""

    colorizer: Colorizer
    reference_self: bool = False
    region: str = "none"
    reference_mode: str = "transfer"

    @property
    def columns(self) -> dict[str, bool]:
        """The per-image columns `measure` adds, each with whether higher is better."""
        return REFERENCE_COLUMNS | (REGION_COLUMNS if self.region != "none" else {})

    def colorize_photo(self, rgb: torch.Tensor, path: str = "photo") -> torch.Tensor:
        """(3, S, S) ground-truth RGB in [0, 1] -> (3, S, S) RGB in [0, 1] coloured from its simulated references.
        Raises EvaluateError naming `path` when a reference cannot give colour (e.g. the rest of the photo is grey)."""
        mirrored = mirrored_reference(rgb)
        regions = []
        if self.region != "none":
            mask = centre_mask(*rgb.shape[-2:])
            source = mirrored if self.region == "mirrored" else rest_reference(rgb, mask)
            regions.append(Region(mask, source, name=f"the centre region's {self.region} reference"))
        whole = mirrored if self.reference_self else None
        try:
            return colorize_with_regions(self.colorizer, rgb, regions, whole, reference_mode=self.reference_mode)
        except PseudocolorError as error:
            raise EvaluateError(f"{path}: {error}; remove it from DATA") from error

    def measure(self, pair: ImagePair) -> dict[str, torch.Tensor]:
        """The (B, 3, S, S) outputs and ground truth (0-255) of `pair` -> `columns`' (B,) per-image values; colours
        the ground-truth photos automatically (from the L of `pair`'s Lab) to compare."""
        output, target = pair.preds, pair.target
        automatic = ImagePair(to_uint8(self.colorizer.colorize_l(pair.target_as(lab)[:, :1])), target)
        output_lab, target_lab = pair.preds_as(lab), pair.target_as(lab)
        psnr_auto = psnr_of(automatic)
        values = {
            "psnr_auto": psnr_auto,
            "psnr_gain": psnr_of(pair) - psnr_auto,
            "delta_l": (output_lab[:, 0] - target_lab[:, 0]).abs().mean(dim=(1, 2)),
        }
        if self.region != "none":
            mask = centre_mask(*target.shape[-2:]).to(target.device)
            inside, inside_auto = region_psnr(output, target, mask), region_psnr(automatic.preds, target, mask)
            delta_ab = (output_lab[:, 1:] - automatic.preds_as(lab)[:, 1:]).abs().mean(dim=1)
            values |= {
                "region_psnr": inside,
                "region_psnr_auto": inside_auto,
                "region_gain": inside - inside_auto,
                "outside_delta_ab": delta_ab[:, far_outside(mask)].mean(dim=1),
            }
        return values


class EvaluateError(PseudocolorError):
    """A problem the user can fix (no photos, bad list, unloadable model); the message says how."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pseudocolor evaluate",
        description="Evaluate a colorizer on colour photos: per-image metrics, their mean and std, plots, MLflow run.",
    )
    parser.add_argument("data", nargs="+", help="photo files or folders (searched recursively)")
    parser.add_argument(
        "--list", dest="list_file", help="ctest10k-format list of files relative to the single DATA folder"
    )
    parser.add_argument(
        "--model",
        default=GRAY,
        help="model spec (.ckpt, weights file, models:/..., runs:/..., pretrained) or 'gray', the colourless baseline",
    )
    parser.add_argument("--size", type=int, default=256, help="photos are resized to SIZE x SIZE (default 256)")
    parser.add_argument("--output", type=Path, help="output folder (default evaluation/<model>-<timestamp>)")
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda or cuda:N")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, help="evaluate only the first N photos")
    workers = min(4, max(0, (os.cpu_count() or 1) - 1))
    parser.add_argument("--workers", type=int, default=workers, help="decoding processes")
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT, help="MLflow experiment name")
    parser.add_argument(
        "--max-bad-fraction",
        type=float,
        default=DEFAULT_MAX_BAD_FRACTION,
        metavar="F",
        help=f"stop when more than this fraction of the files is unreadable (default {DEFAULT_MAX_BAD_FRACTION})",
    )
    parser.add_argument(
        "--hints",
        type=int,
        default=0,
        metavar="N",
        help="N one-pixel ground-truth colour hints per photo at seeded random positions (default 0)",
    )
    parser.add_argument(
        "--reference",
        choices=("none", "self"),
        default="none",
        help=f"self: colour each photo from {REFERENCE_PROTOCOL.replace('%', '%%')} as whole-image reference "
        "(default none)",
    )
    parser.add_argument(
        "--region",
        choices=REGION_CHOICES,
        default="none",
        help="colour the centre region (middle half of each side) from the mirrored 75 %% reference (mirrored) or "
        "from the rest of the photo with the region transparent (rest), the background automatically; reports "
        "PSNR inside the region next to automatic's (default none)",
    )
    parser.add_argument(
        "--reference-mode",
        choices=REFERENCE_MODES,
        default="transfer",
        help="how a reference gives colour: transfer (exemplar colour transfer, default) or histogram "
        "(the network's global hint only)",
    )
    parser.add_argument(
        "--no-hint-spreading",
        dest="spread_hints",
        action="store_false",
        help="leave point hints to the network alone (default: also spread along lightness edges)",
    )
    return parser


# ---------------------------------------------------------------------------------------- inputs
def collect_files(data: list[str], list_file: str | None = None) -> list[Path]:
    """Photo paths from files and folders (recursive, sorted), or from a ctest10k list against one folder."""
    if list_file is not None:
        if len(data) != 1 or not Path(data[0]).is_dir():
            raise EvaluateError("--list needs exactly one DATA folder (the ILSVRC2012 val folder) to resolve against")
        try:
            return read_list_file(list_file, Path(data[0]))
        except FileNotFoundError as error:
            raise EvaluateError(str(error)) from error
    files = []
    for item in map(Path, data):
        if item.is_dir():
            files.extend(list_images(item))
        elif item.is_file():
            if not is_image_file(item):
                raise EvaluateError(f"{item}: not a photo file (expected .jpg, .png, ...); remove it from DATA")
            files.append(item)
        else:
            raise EvaluateError(f"{item}: no such file or folder; check the path")
    return files


def gray_baseline(l: torch.Tensor) -> torch.Tensor:
    """The colourless baseline: (B, 1, H, W) L in [0, 100] -> (B, 3, H, W) RGB in [0, 1] of that L with a = b = 0."""
    return lab_to_rgb(grey_lab(l))


def load_model_spec(
    spec: str,
    device: torch.device,
    hints: int = 0,
    reference_self: bool = False,
    spread_hints: bool = True,
    region: str = "none",
    reference_mode: str = "transfer",
) -> tuple[ColorizeFn, SimulatedGuidance | ReferenceProtocol | None]:
    """'gray' or a model spec -> (function (B, 1, H, W) L in [0, 100] -> (B, 3, H, W) coloured RGB in [0, 1] of that L
    (automatic, or with an optional `local_hints` keyword), and the simulated guidance: SimulatedGuidance for `hints`,
    ReferenceProtocol for `reference_self` / `region`, or None). `spread_hints` False leaves point hints to the
    network alone (see `Colorizer`)."""
    if hints < 0:
        raise EvaluateError(f"--hints must be >= 0, got {hints}")
    references = reference_self or region != "none"
    if spec == GRAY:
        if hints or references:
            raise EvaluateError(
                "--hints, --reference self and --region need a network; the gray baseline takes no hints"
            )
        return gray_baseline, None
    if hints and references:
        raise EvaluateError(
            "--hints cannot be combined with --reference self or --region; evaluate them in separate runs"
        )
    colorizer = Colorizer.load(spec, device)
    if hints or (references and reference_mode == "histogram"):  # transfer works with automatic-only networks too
        require_hints(colorizer.network, f"{spec} with --hints / --reference-mode histogram")
    colorizer.spread_hints = spread_hints
    if references:
        return colorizer.colorize_l, ReferenceProtocol(colorizer, reference_self, region, reference_mode)
    guidance = SimulatedGuidance(hints, colorizer.size)
    return colorizer.colorize_l, (guidance if guidance.active else None)


# ---------------------------------------------------------------------------------------- evaluation
@dataclass
class Evaluation:
    """Per-image rows (file + every column: the metrics, then any a ReferenceProtocol adds), the skipped files
    (paths, and "kind<TAB>reason" lines), and the ground truth and output ((3, S, S) uint8 each, on the CPU) of the
    rows that are among the best or worst by PSNR, by row index."""

    columns: list[str] = field(default_factory=lambda: list(PER_IMAGE))
    rows: list[dict[str, object]] = field(default_factory=list)
    skipped_grey: list[str] = field(default_factory=list)
    skipped_unreadable: list[str] = field(default_factory=list)
    skip_reasons: list[str] = field(default_factory=list)
    extreme_images: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    seconds: float = 0.0

    def add_rows(self, paths: list[str], values: dict[str, torch.Tensor], target: torch.Tensor, output: torch.Tensor):
        """One row per photo of a batch: `values` (B,) per column, `target` and `output` (B, 3, S, S) uint8. Keeps
        the images of the rows now among the EXTREMES best or worst by PSNR (a row that is not can never be again),
        copying to the CPU only those of this batch, and drops those of rows pushed out."""
        first = len(self.rows)
        columns = torch.stack(list(values.values())).cpu().tolist()  # one transfer for the whole batch
        for index, path in enumerate(paths):
            self.rows.append({"file": path, **{name: column[index] for name, column in zip(values, columns)}})
        ranked = sorted([*self.extreme_images, *range(first, len(self.rows))], key=lambda row: self.rows[row]["psnr"])
        keep = set(ranked if len(ranked) <= 2 * EXTREMES else ranked[:EXTREMES] + ranked[-EXTREMES:])
        self.extreme_images = {row: images for row, images in self.extreme_images.items() if row in keep}
        for row in sorted(keep - set(self.extreme_images)):
            self.extreme_images[row] = (target[row - first].cpu(), output[row - first].cpu())

    @property
    def extremes(self) -> list[tuple[float, str, torch.Tensor, torch.Tensor]]:
        """(PSNR, file, ground truth, output) of the best and worst rows, lowest PSNR first: the contact sheet."""
        rows = sorted(self.extreme_images, key=lambda row: self.rows[row]["psnr"])
        return [(self.rows[row]["psnr"], self.rows[row]["file"], *self.extreme_images[row]) for row in rows]


@functools.cache
def _squash_transform(size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    from pseudocolor.datamodules.transforms import squash_transform  # torchvision: over a second to import

    return squash_transform(size)


@dataclass(frozen=True)
class SquashResize:
    """`transforms.squash_transform(size)`: (3, H, W) uint8 -> (3, size, size) uint8, imported where it first runs.
    With DataLoader workers that is in them, while this process prepares MLflow (`evaluate_files`' `on_start`):
    this one never imports torchvision."""

    size: int

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return _squash_transform(self.size)(image)


def measure_batch(
    target: torch.Tensor,
    indices: list[int],
    colorize: ColorizeFn,
    guidance: SimulatedGuidance | ReferenceProtocol | None = None,
    output: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(B, 3, S, S) uint8 ground truth and the photos' indices in the file list -> ((B, 3, S, S) uint8 output,
    {column: (B,) values}): coloured by `colorize` from the photos' L (with a SimulatedGuidance's hints) unless
    `output` is given (a ReferenceProtocol's), then every metric, and a ReferenceProtocol's columns, on one
    ImagePair, so that each photo's Lab is computed once."""
    with torch.no_grad():
        target_lab = lab(target.float())
        if output is None:
            guided = isinstance(guidance, SimulatedGuidance)
            hints = guidance.inputs(target.float() / 255.0, indices) if guided else {}
            output = to_uint8(colorize(target_lab[:, :1], **hints))
        pair = ImagePair(output, target, target_lab)
        values = per_image_values(pair)
        if isinstance(guidance, ReferenceProtocol):
            values |= guidance.measure(pair)
        return output, values


def measure_in_slices(
    pool: ThreadPoolExecutor | None,
    slice_photos: int,
    target: torch.Tensor,
    indices: list[int],
    *args: object,
    output: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """`measure_batch` of `target` cut into consecutive slices of at most `slice_photos` photos, measured by `pool`'s
    threads (one after another in this thread without a pool), joined back in order. Every value is a function of its
    own photo, so the slicing changes nothing."""
    parts = [slice(start, start + slice_photos) for start in range(0, len(target), slice_photos)]
    jobs = [(target[part], indices[part], *args) for part in parts]
    outputs = [None if output is None else output[part] for part in parts]
    if pool is None:
        results = [measure_batch(*job, output=part_output) for job, part_output in zip(jobs, outputs)]
    else:
        futures = [pool.submit(measure_batch, *job, output=part_output) for job, part_output in zip(jobs, outputs)]
        results = [future.result() for future in futures]
    values = {name: torch.cat([part_values[name] for _, part_values in results]) for name in results[0][1]}
    return torch.cat([part_output for part_output, _ in results]), values


@torch.no_grad()
def evaluate_files(
    files: list[Path],
    colorize: ColorizeFn,
    size: int,
    device: torch.device,
    batch_size: int = 32,
    workers: int = 0,
    guidance: SimulatedGuidance | ReferenceProtocol | None = None,
    max_bad_fraction: float = 1.0,
    on_start: Callable[[], object] | None = None,
) -> Evaluation:
    """Run the protocol over `files`; metrics are computed on `device`, one row per usable photo. `colorize` gets
    the photos' L (from the Lab the metrics use too). With a SimulatedGuidance, each photo's simulated hints are
    passed to `colorize`; with a ReferenceProtocol, the photos are coloured one at a time from their simulated
    references and measured against the automatic colouring too. Stops early, after the batch in hand, once more
    than `max_bad_fraction` of `files` are known to be unreadable. `on_start` is called once the DataLoader's
    workers have started, before the first batch: this process's own set-up then overlaps theirs (importing
    torchvision) and their decoding of the first photos.

    On the CPU each batch is coloured and measured in slices of CPU_SLICE_PHOTOS photos by
    `torch.get_num_threads()` threads, each running its operations on one core, instead of every operation being
    split across the cores: a few hundred small operations per batch then wait for no straggling core (on 2 cores
    shared with other work, 3-4 times faster; as fast on idle ones), and a slice's temporaries (a few MB) stay in
    the core's cache (a quarter to a third faster than slices of 16 photos, for the metrics and the network alike)."""
    index_of = {str(path): index for index, path in enumerate(files)}
    dataset = ImageFileDataset(files, SquashResize(size), skip_grey=True)
    pin = device.type == "cuda"
    loader = DataLoader(dataset, batch_size, num_workers=workers, collate_fn=collate_images, pin_memory=pin)
    references = guidance if isinstance(guidance, ReferenceProtocol) else None
    result = Evaluation(columns=[*PER_IMAGE, *(references.columns if references else ())])
    threads = torch.get_num_threads() if device.type == "cpu" else 1
    slice_photos = CPU_SLICE_PHOTOS if device.type == "cpu" else batch_size
    start = time.perf_counter()
    with (
        tqdm(total=len(files), unit="img", desc="evaluate", file=sys.stderr) as progress,
        ThreadPoolExecutor(threads, initializer=torch.set_num_threads, initargs=(1,)) as pool,
    ):
        batches = iter(loader)
        if on_start is not None:
            on_start()
        for batch in batches:
            for path, kind, reason in batch["skipped"]:
                (result.skipped_grey if kind == SKIP_GREY else result.skipped_unreadable).append(path)
                result.skip_reasons.append(f"{kind}\t{reason}")
                if kind != SKIP_GREY:
                    tqdm.write(f"skipped {reason}", file=sys.stderr)
            if batch["paths"]:
                target = batch["image"].to(device, non_blocking=pin)
                output = None
                if references:
                    rgb = target.float() / 255.0
                    photos = [references.colorize_photo(photo, path) for photo, path in zip(rgb, batch["paths"])]
                    output = to_uint8(torch.stack(photos))
                indices = [index_of[path] for path in batch["paths"]]
                output, values = measure_in_slices(
                    pool if threads > 1 else None, slice_photos, target, indices, colorize, guidance, output=output
                )
                result.add_rows(batch["paths"], values, target, output)
            progress.update(len(batch["paths"]) + len(batch["skipped"]))
            if exceeds_bad_fraction(len(result.skipped_unreadable), len(files), max_bad_fraction):
                break
    result.seconds = time.perf_counter() - start
    return result


def _std(values: list[float]) -> float:
    """Sample standard deviation (0 for a single image)."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(evaluation: Evaluation, metadata: dict[str, object]) -> dict[str, object]:
    """summary.json's content: counts, the mean of every column under its name, their std, and with the region
    columns region_gain_min, the worst photo's region_gain."""
    names = evaluation.columns
    summary = {
        "n_images": len(evaluation.rows),
        "n_skipped_grey": len(evaluation.skipped_grey),
        "n_skipped_unreadable": len(evaluation.skipped_unreadable),
        **{name: statistics.fmean(row[name] for row in evaluation.rows) for name in names},
        "std": {name: _std([row[name] for row in evaluation.rows]) for name in names},
        "images_per_second": len(evaluation.rows) / max(evaluation.seconds, 1e-9),
        "skipped_unreadable": evaluation.skipped_unreadable,
        "not_computed": NOT_COMPUTED,
    }
    if "region_gain" in names:
        summary["region_gain_min"] = min(row["region_gain"] for row in evaluation.rows)
    return {**summary, **metadata}


# ---------------------------------------------------------------------------------------- outputs
def write_csv(rows: list[dict[str, object]], columns: list[str], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", *columns])
        writer.writeheader()
        writer.writerows(rows)


def write_rows_and_skips(evaluation: Evaluation, output: Path) -> None:
    """per_image.csv and skipped.txt ("kind<TAB>reason" per skipped file), written even when evaluation stops."""
    output.mkdir(parents=True, exist_ok=True)
    write_csv(evaluation.rows, evaluation.columns, output / "per_image.csv")
    (output / "skipped.txt").write_text("".join(f"{line}\n" for line in evaluation.skip_reasons))


@dataclass
class Tracking:
    """The MLflow side of an evaluation, in `experiment`. `prepare` imports MLflow (and matplotlib, for the plots),
    seconds of work, and creates or finds the store and the experiment; `main` has `evaluate_files` call it while
    the DataLoader workers start. `log` then records the run."""

    experiment: str
    uri: str = ""
    experiment_id: str = ""

    def prepare(self) -> None:
        if self.experiment_id:
            return
        from pseudocolor.experiments.commands import evaluation_plots  # noqa: F401 - matplotlib, for write_plots
        from pseudocolor.experiments.tracking.store import prepare_store
        from pseudocolor.lightning_modules.inference.mlflow_store import resolve_tracking_uri

        self.uri = resolve_tracking_uri()
        self.experiment_id = prepare_store(self.uri, self.experiment)

    def log(self, summary: dict[str, object], params: dict[str, object], output: Path) -> str:
        """Log params, every mean (and `<name>_std`), region_gain_min when there, and the output folder (under
        `evaluation/`) to a new run -> its id."""
        import mlflow
        from mlflow.entities import Metric, Param

        self.prepare()
        client = mlflow.MlflowClient(self.uri)
        tags = {"pseudocolor.command": "evaluate"}
        run = client.create_run(self.experiment_id, run_name=f"evaluate {params['model']}", tags=tags)
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        counts = ("n_images", "n_skipped_grey", "n_skipped_unreadable")
        extremes = ("region_gain_min",) if "region_gain_min" in summary else ()
        values = {name: summary[name] for name in (*counts, *summary["std"], *extremes)}
        values |= {f"{name}_std": value for name, value in summary["std"].items()}
        client.log_batch(
            run_id,
            metrics=[Metric(name, float(value), now, 0) for name, value in values.items()],
            params=[Param(name, str(value)[:6000]) for name, value in params.items()],
        )
        client.log_artifacts(run_id, str(output), artifact_path="evaluation")
        client.set_terminated(run_id)
        return run_id


def summary_table(summary: dict[str, object]) -> str:
    lines = [f"{'metric':<26} {'mean':>10} {'std':>10}  better"]
    for name, std in summary["std"].items():
        better = {True: "higher", False: "lower", None: ""}[HIGHER_IS_BETTER[name]]
        lines.append(f"{name:<26} {summary[name]:>10.4f} {std:>10.4f}  {better}")
    if "region_gain_min" in summary:
        lines.append(f"{'region_gain_min':<26} {summary['region_gain_min']:>10.4f} {'':>10}  higher (worst photo)")
    lines.append(
        f"{summary['n_images']} images, skipped {summary['n_skipped_grey']} grey and "
        f"{summary['n_skipped_unreadable']} unreadable, {summary['images_per_second']:.1f} images/s"
    )
    return "\n".join(lines)


def default_output(model: str) -> Path:
    return Path("evaluation") / f"{Path(model).stem}-{datetime.now():%Y%m%d-%H%M%S}"


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.size < 16 or args.batch_size < 1 or (args.limit is not None and args.limit < 1):
            raise EvaluateError("--size must be >= 16, --batch-size and --limit >= 1")
        if not 0 <= args.max_bad_fraction <= 1:
            raise EvaluateError(f"--max-bad-fraction must be between 0 and 1, got {args.max_bad_fraction}")
        if args.region != "none" and args.size < MIN_REGION_SIZE:
            raise EvaluateError(
                f"--region needs --size >= {MIN_REGION_SIZE}, so that some pixels lie more than {EDGE_MARGIN} px "
                f"outside the centre region, got {args.size}"
            )
        device = resolve_device(args.device)
        files = collect_files(args.data, args.list_file)[: args.limit]
        colorize, guidance = load_model_spec(
            args.model,
            device,
            hints=args.hints,
            reference_self=args.reference == "self",
            spread_hints=args.spread_hints,
            region=args.region,
            reference_mode=args.reference_mode,
        )
        tracking = Tracking(args.experiment)
        evaluation = evaluate_files(
            files,
            colorize,
            args.size,
            device,
            args.batch_size,
            args.workers,
            guidance,
            args.max_bad_fraction,
            on_start=tracking.prepare,
        )
        output = args.output or default_output(args.model)
        bad = evaluation.skipped_unreadable
        if exceeds_bad_fraction(len(bad), len(files), args.max_bad_fraction):
            write_rows_and_skips(evaluation, output)
            print(
                f"pseudocolor evaluate: {len(bad)} of the {len(files)} files are unreadable, more than "
                f"--max-bad-fraction {args.max_bad_fraction}; fix or remove them (listed with their reasons in "
                f"{output / 'skipped.txt'}; the {len(evaluation.rows)} photos done are in {output / 'per_image.csv'})"
                " or raise --max-bad-fraction",
                file=sys.stderr,
            )
            return 1
        if not evaluation.rows:
            raise EvaluateError(
                f"no colour photo to evaluate among {len(files)} files ({len(evaluation.skipped_grey)} grey, "
                f"{len(evaluation.skipped_unreadable)} unreadable); pass folders of colour photos"
            )
    except PseudocolorError as error:
        print(f"pseudocolor evaluate: {error}", file=sys.stderr)
        return 2
    params = {
        "model": args.model,
        "data": " ".join(args.data),
        "list": args.list_file,
        "size": args.size,
        "protocol": f"resize to {args.size}x{args.size}, RGB uint8, per-image metrics, mean over images",
        "device": str(device),
        "batch_size": args.batch_size,
        "n_files": len(files),
        "max_bad_fraction": args.max_bad_fraction,
        "hints": args.hints,
        "reference": args.reference,
        "hint_spreading": args.spread_hints,
        "hint_protocol": f"{args.hints} one-pixel ground-truth ab hints per photo, uniform positions on the image "
        f"the network sees, HintSampler.points with torch.Generator seed {HINT_SEED} + file index",
        "reference_protocol": REFERENCE_PROTOCOL,
        "region": args.region,
        "region_protocol": REGION_PROTOCOLS[args.region],
        "reference_mode": args.reference_mode,
    }
    summary = summarize(evaluation, params)
    write_rows_and_skips(evaluation, output)
    (output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    from pseudocolor.experiments.commands.evaluation_plots import write_plots  # matplotlib: imported by `prepare`

    write_plots(evaluation.rows, evaluation.extremes, output)
    run_id = tracking.log(summary, params, output)
    print(summary_table(summary))
    print(f"\nwrote {output}/ (per_image.csv, summary.json, plots); MLflow run {run_id} at {tracking.uri}")
    for name, reason in NOT_COMPUTED.items():
        print(f"{name} not computed: {reason}")
    return 0
