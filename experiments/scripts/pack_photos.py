"""Pack training photos for the lent GPU, whose copy of the working tree is capped at 64 MiB a call:
`python -m pseudocolor.experiments.scripts.pack_photos --source ../shared/data/photo-mix/train 1
--source ../shared/data/imagenette-mini/train 3 --output .data/pack`.

Each SOURCE folder's photos get the sampling WEIGHT that follows it (3: drawn three times as often). Parts of at most
--part-mb MB, each a random sample of every source, so each can travel in its own call (see `photo_pack`).
Unreadable files are skipped and named.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from pseudocolor.datamodules.decoding import list_images
from pseudocolor.datamodules.photo_pack import PACK_QUALITY, PACK_SIZE, write_pack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", nargs=2, action="append", required=True, metavar=("FOLDER", "WEIGHT"))
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--part-mb", type=float, default=45.0)
    parser.add_argument("--size", type=int, default=PACK_SIZE)
    parser.add_argument("--quality", type=int, default=PACK_QUALITY)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    sources = []
    for folder, weight in args.source:
        try:
            files = list_images(folder)
        except FileNotFoundError as error:
            raise SystemExit(f"error: --source {error}") from None
        if not files:
            raise SystemExit(f"{folder}: no photos found; pass a folder of .jpg/.png files")
        sources.append((files, float(weight)))
    parts, skipped = write_pack(
        sources,
        args.output,
        int(args.part_mb * 1e6),
        args.size,
        args.quality,
        args.workers,
        progress=lambda stream, total: tqdm(stream, total=total, desc="packing", unit="photo"),
    )
    for reason in skipped:
        print(f"skipped: {reason}")
    sizes = ", ".join(f"{part.name} {part.stat().st_size / 1e6:.1f} MB" for part in parts)
    print(f"{sum(len(files) for files, _ in sources) - len(skipped)} photos in {args.output}: {sizes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
