"""The colouring pipeline on one folder of photos, stage by stage and command by command, measured in one run on one
machine (the figures and targets of issue #20):

    python -m pseudocolor.experiments.scripts.benchmark_pipeline --data ../shared/data/kodak24

Rows: JPEG decode + resize alone (the DataLoader `evaluate` reads with, --workers processes), `pseudocolor evaluate
--model gray`, `pseudocolor evaluate --model pretrained` (each also with its own images/s, counted from its first
batch: the pace of a large folder, where start-up counts little), the shipped network alone at batch 32 (logits to
ab, in this process), `pseudocolor colorize FOLDER -o TMP` (also its own images/s, counted after its start-up), and the
start-up of `pseudocolor colorize --help` next to `python -c "import torch, torchvision, kornia"`.

Commands run as subprocesses and are timed as a user sees them: the wall time of the whole command, start-up
included, minus nothing (evaluate logs to a throw-away MLflow store created beforehand, as a user's already is).
Prints a Markdown table: images/s (seconds for the start-up rows) and the ratio each target of the issue is about:
gray/decode >= 25 %, pretrained/min(decode, network) >= 60 %, colorize/network >= 60 %, --help/imports <= 1.2x.
Only ratios measured in the same run mean anything on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from pseudocolor.datamodules.decoding import list_images
from pseudocolor.datamodules.image_dataset import ImageFileDataset, collate_images
from pseudocolor.datamodules.sample_photos import SAMPLES_DIR
from pseudocolor.datamodules.transforms import squash_transform
from pseudocolor.experiments.tracking.store import prepare_store
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.device import resolve_device

KODAK24 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kodak24"
DEFAULT_DATA = KODAK24 if KODAK24.is_dir() else SAMPLES_DIR
CLI = [sys.executable, "-m", "pseudocolor.experiments.cli"]
IMPORTS = [sys.executable, "-c", "import torch, torchvision, kornia"]
EVALUATE_OWN = "  its own report (after imports and model loading; MLflow set-up included)"
REPORTED_RATE = re.compile(r"\(([\d.]+) images/s\)")  # colorize's last line: "colorized N images ... (R images/s)"
EVALUATED_RATE = re.compile(r"unreadable, ([\d.]+) images/s")  # evaluate's "N images, skipped ..., R images/s"


@dataclass(frozen=True)
class Row:
    """One line of the table: `value` in `unit` (images/s or s), and the issue's ratio about it, if any."""

    name: str
    value: float
    unit: str
    ratio: str = ""


def _percent(name: str, value: float, base: float, target: float) -> str:
    """'NAME 41 % (target >= 25 %)' for value/base."""
    return f"{name} {100 * value / base:.0f} % (target >= {100 * target:.0f} %)"


def decode_rate(files: list[Path], size: int, batch: int, workers: int) -> float:
    """Images/s of decoding and resizing `files` to size x size as `evaluate` does (ImageFileDataset with its
    squash transform, `workers` DataLoader processes), after one untimed pass that brings the files into the
    page cache."""
    dataset = ImageFileDataset(files, squash_transform(size), skip_grey=True)

    def one_pass() -> int:
        loader = DataLoader(dataset, batch_size=batch, num_workers=workers, collate_fn=collate_images)
        return sum(len(item["image"]) for item in loader)

    one_pass()
    start = time.perf_counter()
    images = one_pass()
    return images / (time.perf_counter() - start)


def network_rate(device: torch.device, batch: int, batches: int) -> float:
    """Images/s of the shipped network alone (`Colorizer.predict_small_ab`: logits and their annealed mean) on
    (batch, 1, size, size) L at the network's own size, after one untimed batch."""
    colorizer = Colorizer.load(device=device)
    l = torch.rand(batch, 1, colorizer.size, colorizer.size, device=device) * 100
    colorizer.predict_small_ab(l)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(batches):
        colorizer.predict_small_ab(l)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return batch * batches / (time.perf_counter() - start)


def timed_command(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run `command` -> (its wall time in seconds, its stdout); raises CalledProcessError (with stderr) if it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)
    return seconds, done.stdout


def startup_seconds(repeats: int) -> tuple[float, float]:
    """Median seconds of `pseudocolor colorize --help` and of importing torch, torchvision and kornia, the two run
    in turn `repeats` times so that a change of load touches both."""
    help_runs, import_runs = [], []
    for _ in range(repeats):
        help_runs.append(timed_command([*CLI, "colorize", "--help"])[0])
        import_runs.append(timed_command(IMPORTS)[0])
    return statistics.median(help_runs), statistics.median(import_runs)


def measure(args: argparse.Namespace, files: list[Path], scratch: Path) -> list[Row]:
    """Every row of the table, in the order printed."""
    device = resolve_device(args.device)
    uri = f"sqlite:///{scratch / 'mlruns' / 'mlflow.db'}"
    prepare_store(uri)  # untimed: a user's store exists before they evaluate
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    shared = ["--device", args.device]
    evaluate = [*CLI, "evaluate", str(args.data), "--size", str(args.size), "--workers", str(args.workers), *shared]

    decode = decode_rate(files, args.size, args.batch, args.workers)
    seconds, gray_printed = timed_command([*evaluate, "--model", "gray", "--output", str(scratch / "gray")], env)
    gray = len(files) / seconds
    pretrained_command = [*evaluate, "--model", "pretrained", "--output", str(scratch / "pretrained")]
    seconds, pretrained_printed = timed_command(pretrained_command, env)
    pretrained = len(files) / seconds
    network = network_rate(device, args.batch, args.network_batches)
    seconds, printed = timed_command([*CLI, "colorize", str(args.data), "-o", str(scratch / "colorized"), *shared])
    colorize = len(files) / seconds
    reported = float(REPORTED_RATE.findall(printed)[-1])
    help_seconds, import_seconds = startup_seconds(args.repeats)
    return [
        Row(f"JPEG decode + resize to {args.size} px alone ({args.workers} workers)", decode, "images/s"),
        Row("`pseudocolor evaluate --model gray`", gray, "images/s", _percent("gray/decode", gray, decode, 0.25)),
        Row(EVALUATE_OWN, float(EVALUATED_RATE.findall(gray_printed)[-1]), "images/s"),
        Row(
            "`pseudocolor evaluate --model pretrained`",
            pretrained,
            "images/s",
            _percent("pretrained/min(decode, network)", pretrained, min(decode, network), 0.6),
        ),
        Row(EVALUATE_OWN, float(EVALUATED_RATE.findall(pretrained_printed)[-1]), "images/s"),
        Row(f"network alone, batch {args.batch}", network, "images/s"),
        Row(
            "`pseudocolor colorize FOLDER -o TMP`",
            colorize,
            "images/s",
            _percent("colorize/network", colorize, network, 0.6),
        ),
        Row("  its own report (after start-up and model loading)", reported, "images/s"),
        Row(
            "`pseudocolor colorize --help`",
            help_seconds,
            "s",
            f"--help/imports {help_seconds / import_seconds:.2f}x (target <= 1.2x)",
        ),
        Row('`python -c "import torch, torchvision, kornia"`', import_seconds, "s"),
    ]


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    lines = ["| measurement | images/s or s | ratio (target) |", "|---|---:|---|"]
    lines += [f"| {row.name} | {row.value:.2f} {row.unit} | {row.ratio} |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"folder of colour photos (default {DEFAULT_DATA})"
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--size", type=int, default=256, help="evaluate's --size and the decode row's (default 256)")
    parser.add_argument("--batch", type=int, default=32, help="network batch, also the decode row's (default 32)")
    parser.add_argument("--network-batches", type=int, default=3, help="timed network batches (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="decoding processes of the decode row and evaluate")
    parser.add_argument("--repeats", type=int, default=3, help="start-up runs of each kind, median (default 3)")
    args = parser.parse_args(argv)
    files = list_images(args.data) if args.data.is_dir() else []
    if not files:
        parser.error(f"{args.data} holds no photos; pass --data DIR")
    print(
        f"{len(files)} photos in {args.data}, device {resolve_device(args.device)}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="benchmark_pipeline_") as scratch:
        print(table(measure(args, files, Path(scratch))))


if __name__ == "__main__":
    main()
