"""Time reference colouring against automatic colouring, and check the red-reference case:
`python -m pseudocolor.experiments.scripts.benchmark_reference [--model pretrained] [--repeats 9]`.

For a 256 x 256 photo and a 1-megapixel one (a bundled photo resized), prints the median milliseconds of
automatic colouring (`Colorizer.colorize`), of the centre region (middle half of each side) coloured from the
photo mirrored and shrunk to 75 % (`colorize_with_regions`, transfer mode, Poisson seam), and of the whole photo
coloured from that reference, the three run in turn --repeats times so that a change of the machine's speed touches
all three; then the time beyond automatic (the median over the rounds of region minus automatic) against the
budgets (150 ms at 256 px, 1.5 s at 1 MP).
Last, kodim23 with its left half coloured from a uniformly red picture (a* 60, b* 40): mean a* inside over
automatic colouring's, in both reference modes (target: at least 10 above).
The quality of the transfer is measured by `pseudocolor evaluate --reference self` and `--region mirrored|rest`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from pseudocolor.datamodules.color_space import rgb_to_lab
from pseudocolor.datamodules.decoding import decode_image
from pseudocolor.datamodules.sample_photos import SAMPLES_DIR
from pseudocolor.lightning_modules.guided.reference_protocols import centre_mask, mirrored_reference
from pseudocolor.lightning_modules.guided.regions import REFERENCE_MODES, Region, colorize_with_regions
from pseudocolor.lightning_modules.inference.colorizer import Colorizer

SIDES = {"256 px": 256, "1 MP": 1000}
BUDGET_MS = {"256 px": 150.0, "1 MP": 1500.0}  # time beyond automatic colouring
RED_RGB = (214, 65, 58)  # Lab about (52, 60, 40)


def _ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _photo(name: str, side: int | None = None) -> torch.Tensor:
    """A bundled photo -> (3, H, W) RGB in [0, 1], squashed to side x side when given."""
    rgb = decode_image(SAMPLES_DIR / name).float() / 255
    if side is None:
        return rgb
    return F.interpolate(rgb[None], size=(side, side), mode="bilinear", antialias=True)[0].clamp(0, 1)


def time_reference(colorizer: Colorizer, photo: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median milliseconds of automatic, region and whole-photo reference colouring of (3, H, W) `photo`, run in
    turn `repeats` times after one untimed round, and the median over the rounds of region minus automatic."""
    reference = mirrored_reference(photo)
    region = [Region(centre_mask(*photo.shape[-2:]), reference)]
    runs = {
        "automatic": lambda: colorizer.colorize(photo),
        "region from reference": lambda: colorize_with_regions(colorizer, photo, region),
        "whole photo from reference": lambda: colorize_with_regions(colorizer, photo, reference=reference),
    }
    rounds = [{name: _ms(run) for name, run in runs.items()} for _ in range(repeats + 1)][1:]
    medians = {name: statistics.median(times[name] for times in rounds) for name in runs}
    beyond = statistics.median(times["region from reference"] - times["automatic"] for times in rounds)
    return medians | {"region, beyond automatic": beyond}


def red_reference_gain(colorizer: Colorizer, mode: str) -> float:
    """kodim23, left half from a uniformly red picture: mean a* inside minus automatic colouring's."""
    photo = _photo("kodim23.jpg")
    left = torch.zeros(photo.shape[-2:], dtype=torch.bool)
    left[:, : photo.shape[-1] // 2] = True
    red = torch.tensor(RED_RGB, dtype=torch.float32)[:, None, None].expand(3, 64, 64) / 255
    guided = colorize_with_regions(colorizer, photo, [Region(left, red)], reference_mode=mode)
    automatic = colorizer.colorize(photo)
    return (rgb_to_lab(guided[None])[0, 1][left].mean() - rgb_to_lab(automatic[None])[0, 1][left].mean()).item()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="pretrained", help="model spec (default pretrained)")
    parser.add_argument("--photo", default="kodim05.jpg", help="bundled photo to time (default kodim05.jpg)")
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds, median (default 9)")
    args = parser.parse_args(argv)
    colorizer = Colorizer.load(args.model)
    print(f"model {args.model}, cpu, {torch.get_num_threads()} threads, median of {args.repeats} rounds")
    for label, side in SIDES.items():
        timings = time_reference(colorizer, _photo(args.photo, side), args.repeats)
        beyond = timings.pop("region, beyond automatic")
        for name, ms in timings.items():
            print(f"{label:7s} {name:28s} {ms:8.1f} ms")
        print(f"{label:7s} {'region, beyond automatic':28s} {beyond:8.1f} ms   budget {BUDGET_MS[label]:.0f} ms")
    for mode in REFERENCE_MODES:
        print(f"kodim23 left half from red, mode {mode:9s}: a* {red_reference_gain(colorizer, mode):+.1f} over automatic")


if __name__ == "__main__":
    main()
