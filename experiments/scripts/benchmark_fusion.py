"""Time the guided-colouring solvers: `python -m pseudocolor.experiments.scripts.benchmark_fusion --side 1000`.

Prints milliseconds (median of --repeats) per Poisson and feathered fusion of a (2, side, side) ab map with a
disc mask covering about 40 % of the image, and per hint spreading of 10 and 100 point hints on the ab grid
of a 256 x 256 network input (one photo); then how far the default Poisson solves are from exact ones (ab units).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from pseudocolor.lightning_modules.guided.hints import encode_ab_hints
from pseudocolor.lightning_modules.propagation.fusion import feather_blend, poisson_blend
from pseudocolor.lightning_modules.propagation.hint_spreading import spread_hints


def _fields(side: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    y, x = torch.meshgrid(*(torch.arange(side, dtype=torch.float32, device=device),) * 2, indexing="ij")
    background = torch.stack([30 * torch.sin(x / 50), 20 * torch.cos(y / 40)])
    region = torch.stack([25 * torch.cos(x / 30) + 10, 20 * torch.sin(y / 60) - 5])
    mask = (y - side / 2) ** 2 + (x - side / 2) ** 2 < (0.36 * side) ** 2
    return background, region, mask


def _hinted_photo(hints: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(1, 2, 64, 64) predicted ab, (1, 1, 256, 256) L and a hint map with `hints` random point hints."""
    generator = torch.Generator().manual_seed(0)
    l = (torch.rand(1, 1, 256, 256, generator=generator) * 100).to(device)
    points = torch.randint(0, 256, (1, hints, 2), generator=generator)
    ab = (torch.rand(1, hints, 2, generator=generator) * 80 - 40).to(device)
    return torch.zeros(1, 2, 64, 64, device=device), l, encode_ab_hints(points.to(device), ab, 256, 256)


def _time(fn, repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats + 1):  # the first run warms up
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--side", type=int, default=1000, help="image side in pixels (1000: one megapixel)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        help="intra-op CPU threads (default: torch's); 1 on a machine busy with other jobs: the solvers run hundreds "
        "of short passes and each 2-thread pass waits until both threads get a core",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    background, region, mask = _fields(args.side, device)
    threads = torch.get_num_threads()
    print(f"{args.side}x{args.side} ab, mask {mask.float().mean():.0%} of the image, {device}, {threads} threads")
    hinted = {hints: _hinted_photo(hints, device) for hints in (10, 100)}
    for label, fn in {
        "poisson (whole mask, tol 1e-4)": lambda: poisson_blend(background, region, mask),
        "poisson (band 32 px, tol 1e-4)": lambda: poisson_blend(background, region, mask, band=32),
        "feather (radius 8 px)": lambda: feather_blend(background, region, mask, 8.0),
        **{
            f"hint spreading, {hints} hints (256 px)": (lambda inputs=inputs: spread_hints(*inputs))
            for hints, inputs in hinted.items()
        },
    }.items():
        ms = _time(fn, args.repeats, device)
        print(f"{label:36s} {ms:9.1f} ms")
    for label, band in (("whole mask", None), ("band 32 px", 32)):
        exact = poisson_blend(background.double(), region.double(), mask, band=band, tol=1e-10, max_iter=500)
        error = (poisson_blend(background, region, mask, band=band).double() - exact).abs()
        print(
            f"poisson {label}, float32 tol 1e-4 vs float64 tol 1e-10: |ab error| max {error.max():.3f}, "
            f"mean {error[:, mask].mean():.4f} inside the mask"
        )


if __name__ == "__main__":
    main()
