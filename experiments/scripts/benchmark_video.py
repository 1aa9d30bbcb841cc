"""Speed and quality of video colouring, per frame against consistent (issue #21):
`python -m pseudocolor.experiments.scripts.benchmark_video [--data DIR] [--clips 4] [--model pretrained]`.

Quality, on synthetic clips made from the photos in --data (default: the bundled samples): clip k pans and zooms
over photo k for 24 frames, then cuts to photo k + 1 for 24 more (320 x 240, camera paths known exactly). For each
clip, colouring each frame alone (`ConsistencySettings(carry=0)`) and consistent colouring (the defaults):

- flicker: mean |delta ab| (Euclidean, Lab units) between consecutive frames of a shot after moving the previous
  frame's colours along the known camera motion, per pixel and in FLICKER_BLOCK px blocks (see `flicker`); consistent
  as a fraction of per frame (target <= 40 %), the true clip's own figure beside them;
- PSNR (RGB, 0-255) against the true colour clip; consistent minus per frame (target >= -0.2 dB);
- across the cut: mean |delta ab| between consistent and per-frame colouring over the second photo's first
  CUT_FRAMES frames (target <= 2), and whether the cut was found at its frame.

Speed: frames per second of the network alone (the yardstick), of `VideoColorizer.colorize_frames` (frames in memory -> coloured frames, batches of
--batch-size) at 320 x 240 and 640 x 480, per frame and consistent; then what `pseudocolor colorize clip.mp4` reports
for 320 x 240 clips of 48 and COMMAND_FRAMES frames (PyAV decode, colouring, H.264 encode; target >= 10 frames/s on
2 CPU cores; the short clip's rate is mostly its first batches).
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from pseudocolor.datamodules.color_space import rgb_to_lab
from pseudocolor.datamodules.decoding import decode_image, list_images
from pseudocolor.datamodules.sample_photos import SAMPLES_DIR
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.video import ConsistencySettings, VideoColorizer

SHOT_FRAMES = 24  # frames per photo: a clip is two shots with a cut between
CUT_FRAMES = 3  # frames after the cut compared with per-frame colouring
FLICKER_BLOCK = 4  # px: the second flicker measure averages delta ab over squares of this side (see `flicker`)
CLIP_SIZE = (240, 320)  # (H, W) of the quality clips
SPEED_SIZES = {"320x240": (240, 320), "640x480": (480, 640)}
FPS = 25
COMMAND_FRAMES = 240  # the timed clip: 10 s at 24 frames/s, long enough that the first batches do not decide the rate


@dataclass(frozen=True)
class Shot:
    """Frames of a camera moving over one photo: frame t shows the photo's square of side `side[t]` (photo px per
    frame px) whose top-left corner is (`left[t]`, `top[t]`)."""

    left: torch.Tensor  # (T,) photo px
    top: torch.Tensor
    scale: torch.Tensor  # (T,) photo px per frame px


def camera_path(photo_size: tuple[int, int], frame_size: tuple[int, int], frames: int = SHOT_FRAMES) -> Shot:
    """A slow pan (right and down) and zoom-in (crop 90 % -> 70 % of the largest one) over a photo of `photo_size`
    (H, W), framed at `frame_size` (H, W)."""
    height, width = photo_size
    frame_h, frame_w = frame_size
    largest = min(height / frame_h, width / frame_w)  # photo px per frame px of the largest crop
    t = torch.linspace(0, 1, frames, dtype=torch.float64)
    scale = largest * (0.9 - 0.2 * t)
    crop_w, crop_h = scale * frame_w, scale * frame_h
    centre_x = width / 2 + (t - 0.5) * (width - 0.9 * largest * frame_w) * 0.8
    centre_y = height / 2 + (t - 0.5) * (height - 0.9 * largest * frame_h) * 0.5
    return Shot(centre_x - crop_w / 2, centre_y - crop_h / 2, scale)


def _photo_grid(shot: Shot, index: int, frame_size: tuple[int, int], photo_size: tuple[int, int]) -> torch.Tensor:
    """(1, H, W, 2) grid_sample grid (align_corners=False) of frame `index`'s pixel centres in the photo."""
    frame_h, frame_w = frame_size
    ys = torch.arange(frame_h, dtype=torch.float64) + 0.5
    xs = torch.arange(frame_w, dtype=torch.float64) + 0.5
    x = shot.left[index] + xs * shot.scale[index]
    y = shot.top[index] + ys * shot.scale[index]
    gx, gy = torch.meshgrid(x / photo_size[1] * 2 - 1, y / photo_size[0] * 2 - 1, indexing="xy")
    return torch.stack([gx, gy], dim=-1)[None].float()


def render_shot(photo: torch.Tensor, shot: Shot, frame_size: tuple[int, int]) -> list[torch.Tensor]:
    """(3, H, W) uint8 photo -> the shot's frames, (3, h, w) uint8 each (bilinear, photo antialiased to the frame's
    scale first)."""
    rgb = photo.float()[None] / 255
    size = tuple(photo.shape[-2:])
    frames = []
    for index in range(len(shot.scale)):
        scale = float(shot.scale[index])
        source = rgb
        if scale > 1.5:  # shrinking: antialias so that the frames do not shimmer
            small = (round(size[0] / scale), round(size[1] / scale))
            source = F.interpolate(rgb, size=small, mode="bilinear", antialias=True, align_corners=False)
        grid = _photo_grid(shot, index, frame_size, size)
        frame = F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)
        frames.append((frame[0] * 255).round().clamp(0, 255).to(torch.uint8))
    return frames


def previous_onto_current(shot: Shot, index: int, frame_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The known motion: (1, H, W, 2) grid_sample grid of frame `index`'s pixels in frame `index - 1`, and the
    (H, W) bool map of pixels that frame `index - 1` shows."""
    frame_h, frame_w = frame_size
    ys = torch.arange(frame_h, dtype=torch.float64) + 0.5
    xs = torch.arange(frame_w, dtype=torch.float64) + 0.5
    x = (shot.left[index] + xs * shot.scale[index] - shot.left[index - 1]) / shot.scale[index - 1]
    y = (shot.top[index] + ys * shot.scale[index] - shot.top[index - 1]) / shot.scale[index - 1]
    gx, gy = torch.meshgrid(x, y, indexing="xy")
    inside = (gx >= 0.5) & (gx <= frame_w - 0.5) & (gy >= 0.5) & (gy <= frame_h - 0.5)
    grid = torch.stack([gx / frame_w * 2 - 1, gy / frame_h * 2 - 1], dim=-1)[None].float()
    return grid, inside


def _ab(frame: torch.Tensor) -> torch.Tensor:
    """(3, H, W) uint8 RGB -> (1, 2, H, W) ab."""
    return rgb_to_lab(frame.float()[None] / 255)[:, 1:]


def flicker(frames: list[torch.Tensor], shot: Shot, block: int = 1) -> float:
    """Mean |delta ab| between consecutive frames of one shot, the previous frame moved along the known motion.

    With `block` > 1, the delta ab is averaged over `block` x `block` squares (those the previous frame shows
    entirely) before its length is taken: a colour that shifts over a region counts in full, while the pixel-level
    difference that moving a sharp texture by a fraction of a pixel leaves (which the true clip has too) mostly
    cancels out."""
    size = tuple(frames[0].shape[-2:])
    values = []
    for index in range(1, len(frames)):
        grid, inside = previous_onto_current(shot, index, size)
        moved = F.grid_sample(_ab(frames[index - 1]), grid, mode="bilinear", align_corners=False)
        delta = moved - _ab(frames[index])
        if block > 1:
            delta = F.avg_pool2d(delta, block)
            inside = F.avg_pool2d(inside.float()[None, None], block)[0, 0] == 1
        values.append(delta.norm(dim=1)[0][inside].mean().item())
    return statistics.fmean(values)


def psnr(frames: list[torch.Tensor], truth: list[torch.Tensor]) -> float:
    """Mean over frames of the RGB PSNR (0-255 scale)."""
    values = []
    for frame, true in zip(frames, truth):
        mse = (frame.double() - true.double()).pow(2).mean().item()
        values.append(10 * math.log10(255**2 / max(mse, 1e-10)))
    return statistics.fmean(values)


def colour_clip(video: VideoColorizer, frames: list[torch.Tensor], batch_size: int) -> list[torch.Tensor]:
    video.reset()
    out = []
    for start in range(0, len(frames), batch_size):
        out += video.colorize_frames(frames[start : start + batch_size])
    return out


def quality(
    colorizer: Colorizer, photos: list[Path], clips: int, batch_size: int, settings: ConsistencySettings
) -> list[dict[str, float]]:
    """Per clip: flicker, PSNR and the cut measures of per-frame and consistent colouring (module docstring)."""
    per_frame = VideoColorizer(colorizer, ConsistencySettings(carry=0))
    consistent = VideoColorizer(colorizer, settings, record_stats=True)
    rows = []
    for k in range(clips):
        first, second = (decode_image(photos[(k + j) % len(photos)]) for j in (0, 1))
        shots = [camera_path(tuple(p.shape[-2:]), CLIP_SIZE) for p in (first, second)]
        truth = render_shot(first, shots[0], CLIP_SIZE) + render_shot(second, shots[1], CLIP_SIZE)
        alone = colour_clip(per_frame, truth, batch_size)
        kept = colour_clip(consistent, truth, batch_size)
        row = {"clip": f"{photos[k % len(photos)].name} -> {photos[(k + 1) % len(photos)].name}"}
        for name, frames in (("per_frame", alone), ("consistent", kept), ("truth", truth)):
            for measure, block in (("flicker", 1), ("block_flicker", FLICKER_BLOCK)):
                row[f"{measure}_{name}"] = statistics.fmean(
                    [flicker(frames[:SHOT_FRAMES], shots[0], block), flicker(frames[SHOT_FRAMES:], shots[1], block)]
                )
            if name != "truth":
                row[f"psnr_{name}"] = psnr(frames, truth)
        after = range(SHOT_FRAMES, SHOT_FRAMES + CUT_FRAMES)
        row["cut_delta_ab"] = statistics.fmean((_ab(kept[i]) - _ab(alone[i])).norm(dim=1).mean().item() for i in after)
        row["cut_found"] = SHOT_FRAMES in consistent.cuts
        row["false_cuts"] = len([c for c in consistent.cuts if c != SHOT_FRAMES])
        stats = consistent.stats
        row["cut_change"], row["cut_error"] = stats[SHOT_FRAMES].change, stats[SHOT_FRAMES].error
        inside = [s for i, s in enumerate(stats) if i not in (0, SHOT_FRAMES)]
        row["shot_change"] = max(s.change for s in inside)
        row["shot_error"] = max(s.error for s in inside)
        rows.append(row)
    return rows


def frames_per_second(video: VideoColorizer, size: tuple[int, int], photo: torch.Tensor, batch_size: int) -> float:
    """Frames/s of `colorize_frames` on a 2 * SHOT_FRAMES clip of `size` (H, W) over `photo` (a warm-up clip first)."""
    frames = render_shot(photo, camera_path(tuple(photo.shape[-2:]), size, 2 * SHOT_FRAMES), size)
    colour_clip(video, frames[: 2 * batch_size], batch_size)
    start = time.perf_counter()
    colour_clip(video, frames, batch_size)
    return len(frames) / (time.perf_counter() - start)


def frames_per_second_of(fn, frames: int, repeats: int = 3) -> float:
    """`frames` / the median seconds of `fn()` (one warm-up call first)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return frames / statistics.median(times)


def write_mp4(path: Path, frames: list[torch.Tensor], rate: int = FPS) -> Path:
    """(3, H, W) uint8 RGB frames -> an H.264 MP4 clip at `path` (the input of the command's timing)."""
    import av  # only for this part: the rest of the benchmark runs without PyAV

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate, options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[-1], frames[0].shape[-2], "yuv420p"
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame.permute(1, 2, 0).numpy(), format="rgb24")
            picture.pts = index
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return path


def command_frames_per_second(
    model: str, photo: torch.Tensor, batch_size: int, per_frame: bool, frames: int = COMMAND_FRAMES
) -> float:
    """Frames/s that `pseudocolor colorize clip.mp4` reports for a 320x240 clip of `frames` frames: decoding, colouring
    and encoding, without the command's start-up (the model's first batches and the pipeline's filling included)."""
    size = SPEED_SIZES["320x240"]
    frames = render_shot(photo, camera_path(tuple(photo.shape[-2:]), size, frames), size)
    with tempfile.TemporaryDirectory() as folder:
        source = write_mp4(Path(folder) / "clip.mp4", frames)
        command = [sys.executable, "-m", "pseudocolor.experiments.cli", "colorize", str(source), "-o", folder + "/out"]
        command += ["--model", model, "--device", "cpu", "--no-progress", "--batch-size", str(batch_size)]
        extra = ["--per-frame"] if per_frame else []
        done = subprocess.run(command + extra, check=False, capture_output=True, text=True)
        found = re.search(r"\(([\d.]+) frames/s\)", done.stdout)
        if done.returncode != 0 or not found:
            raise RuntimeError(f"colorize failed ({done.returncode}): {done.stdout}{done.stderr}")
        return float(found.group(1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SAMPLES_DIR, help="folder of colour photos (default: samples)")
    parser.add_argument("--clips", type=int, default=4, help="clips to measure quality on (default 4)")
    parser.add_argument("--model", default="pretrained")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--skip-speed", action="store_true", help="quality only")
    parser.add_argument("--skip-quality", action="store_true", help="speed only")
    parser.add_argument("--skip-command", action="store_true", help="no timing of `pseudocolor colorize` (no PyAV)")
    parser.add_argument("--carry", type=float, default=ConsistencySettings().carry, help="ConsistencySettings.carry")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    colorizer = Colorizer.load(args.model, "cpu")
    photos = list_images(args.data)
    print(f"model {args.model}, {torch.get_num_threads()} threads, photos from {args.data} ({len(photos)})")

    if not args.skip_speed:
        photo = decode_image(photos[0])
        small_l = torch.rand(args.batch_size, 1, colorizer.size, colorizer.size) * 100
        network = frames_per_second_of(lambda: colorizer.predict_small_ab(small_l), args.batch_size)
        print(f"network alone at {colorizer.size} px, batch {args.batch_size}: {network:.1f} frames/s")
        for name, size in SPEED_SIZES.items():
            alone = frames_per_second(
                VideoColorizer(colorizer, ConsistencySettings(carry=0)), size, photo, args.batch_size
            )
            kept = frames_per_second(
                VideoColorizer(colorizer, ConsistencySettings(carry=args.carry)), size, photo, args.batch_size
            )
            print(f"{name}: in memory {alone:.1f} frames/s per frame, {kept:.1f} frames/s consistent")
    if not args.skip_speed and not args.skip_command:
        for frames in (2 * SHOT_FRAMES, COMMAND_FRAMES):
            alone = command_frames_per_second(args.model, photo, args.batch_size, per_frame=True, frames=frames)
            kept = command_frames_per_second(args.model, photo, args.batch_size, per_frame=False, frames=frames)
            print(
                f"320x240 clip of {frames} frames through `pseudocolor colorize`: {alone:.1f} frames/s per frame, "
                f"{kept:.1f} consistent"
            )

    if args.skip_quality:
        return
    rows = quality(colorizer, photos, args.clips, args.batch_size, ConsistencySettings(carry=args.carry))
    print(
        f"clip | flicker per pixel; in {FLICKER_BLOCK} px blocks: truth, per frame, consistent, ratio | PSNR per frame | "
        "PSNR consistent | cut |delta ab| | cut | mean |delta L| / warped error: at the cut, largest inside shots"
    )
    for row in rows:
        flickers = "; ".join(
            f"{row[f'{m}_truth']:.2f}, {row[f'{m}_per_frame']:.2f}, {row[f'{m}_consistent']:.2f}, "
            f"{row[f'{m}_consistent'] / row[f'{m}_per_frame']:.0%}"
            for m in ("flicker", "block_flicker")
        )
        print(
            f"{row['clip']} | {flickers} | {row['psnr_per_frame']:.2f} | "
            f"{row['psnr_consistent']:.2f} | {row['cut_delta_ab']:.2f} | "
            f"{'found' if row['cut_found'] else 'MISSED'}, {row['false_cuts']} false | "
            f"{row['cut_change']:.1f} / {row['cut_error']:.1f}, {row['shot_change']:.1f} / {row['shot_error']:.1f}"
        )
    ratio, block_ratio = (
        statistics.fmean(r[f"{m}_consistent"] for r in rows) / statistics.fmean(r[f"{m}_per_frame"] for r in rows)
        for m in ("flicker", "block_flicker")
    )
    gain = statistics.fmean(r["psnr_consistent"] - r["psnr_per_frame"] for r in rows)
    worst_gain = min(r["psnr_consistent"] - r["psnr_per_frame"] for r in rows)
    cut = max(r["cut_delta_ab"] for r in rows)
    print(
        f"mean flicker ratio {ratio:.0%} per pixel, {block_ratio:.0%} in {FLICKER_BLOCK} px blocks (target <= 40 %); PSNR consistent - per frame {gain:+.2f} dB, worst clip "
        f"{worst_gain:+.2f} dB (target >= -0.20); worst cut |delta ab| {cut:.2f} (target <= 2); "
        f"cuts found {sum(r['cut_found'] for r in rows)}/{len(rows)}, false cuts {sum(r['false_cuts'] for r in rows)}"
    )


if __name__ == "__main__":
    main()
