"""Photos packed small enough to travel to a machine reached only through a size-capped copy (the lent GPU), and
read back there into one uint8 tensor that stays in device memory.

A pack is a folder of parts: `part<K>.bin` (WebP-encoded SIZE x SIZE squares, one after another) and `part<K>.npy`
((N, 3) float64: byte offset, byte length, sampling weight of each photo). Each photo is resized so its shorter side is
SIZE and centre-cropped square. WebP at quality 75 keeps a 128 px photo in about 3.2 kB (JPEG needs 4.7 kB), so the
26,630 photo-mix and 2,500 imagenette-mini training photos make 92 MB: two parts, each one carry.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pseudocolor.datamodules.decoding import ImageDecodeError, decode_image

PACK_SIZE = 128
PACK_QUALITY = 75


def encode_square(path: Path, size: int = PACK_SIZE, quality: int = PACK_QUALITY) -> bytes:
    """A photo file -> WebP bytes of its centre square, shorter side resized to `size` (antialiased).
    Raises ImageDecodeError naming the file when it cannot be read."""
    rgb = decode_image(path).permute(1, 2, 0).numpy()
    image = Image.fromarray(rgb)
    width, height = image.size
    scale = size / min(width, height)
    image = image.resize((max(size, round(width * scale)), max(size, round(height * scale))), Image.BICUBIC)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    buffer = io.BytesIO()
    image.crop((left, top, left + size, top + size)).save(buffer, "WEBP", quality=quality)
    return buffer.getvalue()


def _encode_or_reason(job: tuple[Path, int, int]) -> bytes | str:
    try:
        return encode_square(*job)
    except ImageDecodeError as error:
        return str(error)


def write_pack(
    sources: Iterable[tuple[list[Path], float]],
    output: Path,
    part_bytes: int = 45_000_000,
    size: int = PACK_SIZE,
    quality: int = PACK_QUALITY,
    workers: int = 2,
    seed: int = 0,
    progress=None,
) -> tuple[list[Path], list[str]]:
    """Encode every photo of `sources` ((files, sampling weight) pairs) in a seeded random order into parts of at
    most `part_bytes`, so each part is a random sample of all sources. Returns (the .bin parts written, the reasons of
    the files skipped as unreadable). `progress` wraps the encoded stream (e.g. tqdm)."""
    files, weights = [], []
    for paths, weight in sources:
        files += list(paths)
        weights += [float(weight)] * len(paths)
    order = np.random.default_rng(seed).permutation(len(files))
    output.mkdir(parents=True, exist_ok=True)
    jobs = [(files[i], size, quality) for i in order]
    parts, skipped = [], []
    blobs, rows = [], []  # the part being filled: its photos' bytes and (offset, length, weight) rows

    def flush() -> None:
        path = output / f"part{len(parts)}.bin"
        path.write_bytes(b"".join(blobs))
        np.save(path.with_suffix(".npy"), np.array(rows, dtype=np.float64).reshape(-1, 3))
        parts.append(path)
        blobs.clear()
        rows.clear()

    with ProcessPoolExecutor(workers) as pool:
        encoded: Iterator[bytes | str] = pool.map(_encode_or_reason, jobs, chunksize=64)
        for i, blob in zip(order, progress(encoded, total=len(jobs)) if progress else encoded):
            if isinstance(blob, str):
                skipped.append(blob)
                continue
            offset = rows[-1][0] + rows[-1][1] if rows else 0
            if rows and offset + len(blob) > part_bytes:
                flush()
                offset = 0
            blobs.append(blob)
            rows.append((offset, len(blob), weights[i]))
    if rows:
        flush()
    return parts, skipped


def _decode_webp(blob: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))


def read_pack(folders: Iterable[Path], workers: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Every part in `folders` -> ((N, 3, S, S) uint8 RGB photos, (N,) float32 sampling weights), decoded by
    `workers` processes. Raises FileNotFoundError naming a folder without parts."""
    parts = []
    for folder in folders:
        found = sorted(Path(folder).glob("part*.bin"))
        if not found:
            raise FileNotFoundError(
                f"{folder}: no part*.bin files; make a pack with experiments/scripts/pack_photos.py"
            )
        parts += found
    photos, weights = [], []
    with ProcessPoolExecutor(workers) as pool:
        for part in parts:
            data, index = part.read_bytes(), np.load(part.with_suffix(".npy"))
            blobs = [data[int(offset) : int(offset + length)] for offset, length, _ in index]
            photos.append(np.stack(list(pool.map(_decode_webp, blobs, chunksize=256))))
            weights.append(index[:, 2])
    return torch.from_numpy(np.concatenate(photos)).permute(0, 3, 1, 2), torch.from_numpy(
        np.concatenate(weights)
    ).float()
