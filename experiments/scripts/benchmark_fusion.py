"""Time the guided-colouring solvers: `python -m pseudocolor.experiments.scripts.benchmark_fusion --side 1000`.

Prints milliseconds (median of --repeats) per Poisson and feathered fusion of a (2, side, side) ab map with a
disc mask covering about 40 % of the image, and per hint spreading of 10 and 100 point hints on the ab grid
of a 256 x 256 network input (one photo).
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
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    background, region, mask = _fields(args.side, device)
    exact = poisson_blend(background.double(), region.double(), mask, tol=1e-9)
    print(f"{args.side}x{args.side} ab, mask {mask.float().mean():.0%} of the image, {device}, {torch.get_num_threads()} threads")
    for label, fn in {
        "poisson (whole mask, tol 1e-4)": lambda: poisson_blend(background, region, mask),
        "poisson (band 32 px, tol 1e-4)": lambda: poisson_blend(background, region, mask, band=32),
        "feather (radius 8 px)": lambda: feather_blend(background, region, mask, 8.0),
        **{
            f"hint spreading, {hints} hints (256 px)": (lambda inputs=_hinted_photo(hints, device): spread_hints(*inputs))
            for hints in (10, 100)
        },
    }.items():
        ms = _time(fn, args.repeats, device)
        print(f"{label:36s} {ms:9.1f} ms")
    error = (poisson_blend(background, region, mask).double() - exact).abs().max().item()
    print(f"whole-mask float32 vs float64 (tol 1e-9): max |ab error| {error:.3f}")


if __name__ == "__main__":
    main()
