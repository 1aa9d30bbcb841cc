"""The README's pictures, from the bundled sample photos (so anyone can remake them):

- `strip.png`: rows of grey input | the model's colours | the original;
- `region.png`: grey input | region mask | reference | automatic | region from the reference's histogram (the old
  path) | region by colour transfer (the default);
- `reference.png`: rows of grey input | whole-photo reference | automatic | coloured from the reference | original;
- `hints.png`: grey input with 10 ground-truth colour clicks | automatic | the clicks given to the network alone |
  the clicks also spread along edges (the default) | the original;
- `video.jpg`: frames of a slow pan and zoom over one photo (`benchmark_video`'s camera, 320 x 240), in rows: grey |
  each frame coloured alone | coloured consistently along the motion (`VideoColorizer`, the default) | original.

python -m pseudocolor.experiments.scripts.readme_figures [--model pretrained] [--output experiments/figures]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from pseudocolor.datamodules.color_space import grey_lab, lab_to_rgb, rgb_to_lab, to_uint8
from pseudocolor.datamodules.decoding import decode_image
from pseudocolor.datamodules.sample_photos import SAMPLES_DIR
from pseudocolor.experiments.scripts.benchmark_video import camera_path, render_shot
from pseudocolor.lightning_modules.guided.hint_sampler import HintSampler
from pseudocolor.lightning_modules.guided.reference_protocols import mirrored_reference
from pseudocolor.lightning_modules.guided.regions import Region, colorize_with_regions
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.video import ConsistencySettings, VideoColorizer

STRIP_PHOTOS = ("kodim03.jpg", "kodim05.jpg", "kodim14.jpg", "kodim20.jpg", "kodim23.jpg")
REGION_PHOTO, REGION_REFERENCE = "kodim03.jpg", "kodim23.jpg"  # a cap coloured from parrots
REFERENCE_PAIRS = (("kodim19.jpg", "kodim21.jpg"), ("kodim16.jpg", "kodim13.jpg"), ("kodim05.jpg", None))  # None: own
PANEL_SIDE = 256
HINT_PHOTOS, HINT_COUNT = ("kodim05.jpg", "kodim14.jpg", "kodim23.jpg"), 10
LABEL_HEIGHT = 18
VIDEO_PHOTO, VIDEO_FRAMES, VIDEO_SHOWN, VIDEO_SIZE = "kodim23.jpg", 24, (0, 8, 16, 23), (240, 320)


def grey(rgb: torch.Tensor) -> torch.Tensor:
    """(3, H, W) uint8 -> (3, H, W) uint8 with the same L and no colour."""
    return to_uint8(lab_to_rgb(grey_lab(rgb_to_lab(rgb[None].float() / 255)[:, :1]))[0])


def to_pil(image: torch.Tensor) -> Image.Image:
    """(3, H, W) uint8 or float in [0, 1], or (H, W) bool -> PIL RGB."""
    if image.dtype == torch.bool:
        image = image[None].expand(3, -1, -1).to(torch.uint8) * 255
    elif image.dtype != torch.uint8:
        image = to_uint8(image)
    return Image.fromarray(image.permute(1, 2, 0).cpu().numpy())


def grid(rows: list[list[Image.Image]], labels: list[str]) -> Image.Image:
    """Panels of equal size in rows, one label per column above the first row."""
    width, height = rows[0][0].size
    sheet = Image.new("RGB", (width * len(labels), LABEL_HEIGHT + height * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for column, label in enumerate(labels):
        draw.text((column * width + 4, 3), label, fill="black")
    for row, panels in enumerate(rows):
        for column, panel in enumerate(panels):
            sheet.paste(panel, (column * width, LABEL_HEIGHT + row * height))
    return sheet


def strip(colorizer: Colorizer) -> Image.Image:
    photos = [decode_image(SAMPLES_DIR / name) for name in STRIP_PHOTOS]
    photos = [photo[:, :256, :256] for photo in photos]  # same-size panels
    coloured = colorizer.colorize_batch([grey(photo) for photo in photos])
    rows = [[to_pil(grey(p)), to_pil(c), to_pil(p)] for p, c in zip(photos, coloured)]
    return grid(rows, ["grey input", "pseudocolor", "original"])


def region_example(colorizer: Colorizer) -> Image.Image:
    photo, reference = decode_image(SAMPLES_DIR / REGION_PHOTO), decode_image(SAMPLES_DIR / REGION_REFERENCE)
    height, width = photo.shape[-2:]
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[int(0.15 * height) : int(0.62 * height), int(0.08 * width) : int(0.36 * width)] = True  # the first cap
    input_grey = grey(photo)
    automatic = colorizer.colorize_batch([input_grey])[0]
    regions = [Region(mask, reference)]
    histogram = colorize_with_regions(colorizer, input_grey, regions, reference_mode="histogram")
    transfer = colorize_with_regions(colorizer, input_grey, regions)
    reference_panel = to_pil(reference).resize((width, height))
    panels = [to_pil(input_grey), to_pil(mask), reference_panel, to_pil(automatic), to_pil(histogram), to_pil(transfer)]
    labels = ["grey input", "region mask", "reference", "automatic", "region: histogram (old)", "region: transfer"]
    return grid([panels], labels)


def _square(photo: torch.Tensor) -> torch.Tensor:
    """(3, H, W) uint8 -> (3, PANEL_SIDE, PANEL_SIDE) float RGB in [0, 1], squashed."""
    side = (PANEL_SIDE, PANEL_SIDE)
    return F.interpolate(photo[None].float() / 255, size=side, mode="bilinear", antialias=True)[0].clamp(0, 1)


def reference_example(colorizer: Colorizer) -> Image.Image:
    """Whole photos coloured from another photo of similar content, and one from its own mirrored 75 % copy (the
    `evaluate --reference self` protocol)."""
    rows = []
    for name, reference_name in REFERENCE_PAIRS:
        photo = _square(decode_image(SAMPLES_DIR / name))
        if reference_name is None:
            reference = mirrored_reference(photo)
        else:
            reference = _square(decode_image(SAMPLES_DIR / reference_name))
        input_grey = grey(to_uint8(photo))
        coloured = colorize_with_regions(colorizer, input_grey, reference=reference)
        automatic = colorizer.colorize_batch([input_grey])[0]
        reference_panel = to_pil(reference).resize((PANEL_SIDE, PANEL_SIDE))
        rows.append([to_pil(input_grey), reference_panel, to_pil(automatic), to_pil(coloured), to_pil(photo)])
    return grid(rows, ["grey input", "reference", "automatic", "from the reference", "original"])


def _mark_clicks(panel: Image.Image, hint_map: torch.Tensor, photo: torch.Tensor) -> Image.Image:
    """Draw each click of a (3, H, W) hint map on the panel as a dot of the photo's colour there, ringed in white."""
    draw = ImageDraw.Draw(panel)
    for y, x in hint_map[2].nonzero().tolist():
        colour = tuple(photo[:, y, x].tolist())
        draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=colour, outline="white", width=2)
    return panel


def hint_example(colorizer: Colorizer) -> Image.Image:
    """Rows of 256 x 256 crops: clicks at seeded random positions, with the ground-truth colour there."""
    rows = []
    for index, name in enumerate(HINT_PHOTOS):
        photo = decode_image(SAMPLES_DIR / name)[:, :256, :256]
        lab = rgb_to_lab(photo[None].float() / 255)
        hints = HintSampler().points(lab, HINT_COUNT, torch.Generator().manual_seed(index))
        l = lab[:, :1]
        colorizer.spread_hints = False
        alone = colorizer.colorize_l(l, hints)[0]
        colorizer.spread_hints = True
        spread = colorizer.colorize_l(l, hints)[0]
        automatic = colorizer.colorize_l(l)[0]
        clicks = _mark_clicks(to_pil(grey(photo)), hints[0], photo)
        rows.append([clicks, to_pil(automatic), to_pil(alone), to_pil(spread), to_pil(photo)])
    return grid(
        rows, ["grey + 10 clicks", "automatic", "clicks: network alone", "clicks: spread (default)", "original"]
    )


def video_example(colorizer: Colorizer) -> Image.Image:
    """Columns: frames VIDEO_SHOWN of a pan and zoom over VIDEO_PHOTO; rows: grey, each frame alone, consistent,
    original."""
    photo = decode_image(SAMPLES_DIR / VIDEO_PHOTO)
    frames = render_shot(photo, camera_path(tuple(photo.shape[-2:]), VIDEO_SIZE, VIDEO_FRAMES), VIDEO_SIZE)
    greys = [grey(frame) for frame in frames]
    alone = VideoColorizer(colorizer, ConsistencySettings(carry=0)).colorize_frames(greys)
    consistent = VideoColorizer(colorizer).colorize_frames(greys)
    rows = [[to_pil(clip[index]) for index in VIDEO_SHOWN] for clip in (greys, alone, consistent, frames)]
    return grid(rows, [f"frame {index}" for index in VIDEO_SHOWN])


FIGURES = {
    "strip.png": strip,
    "region.png": region_example,
    "reference.png": reference_example,
    "hints.png": hint_example,
    "video.jpg": video_example,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pretrained", help="model spec (default: the shipped model)")
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parents[1] / "figures")
    args = parser.parse_args(argv)
    colorizer = Colorizer.load(args.model, device="cpu")
    args.output.mkdir(parents=True, exist_ok=True)
    for name, make in FIGURES.items():
        figure = make(colorizer)
        figure.save(args.output / name)
        print(args.output / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
