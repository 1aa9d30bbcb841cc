"""The video part of `pseudocolor colorize`: each clip's frames stream from PyAV through `VideoColorizer` in batches
into an MP4 written under a temporary name and renamed at the end (`video_io`).

A clip that cannot be used (not a video, no frames, a codec FFmpeg cannot decode, an output that cannot be written)
fails in one sentence and leaves no output; a clip that breaks off mid-way is coloured up to the break, written, and
reported as failed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import torch
from tqdm import tqdm

from pseudocolor.experiments.commands.video_io import VideoError, VideoReader, VideoWriter
from pseudocolor.lightning_modules.inference.video import VideoColorizer

BATCH_PIXELS = 8_000_000  # frames of a batch hold at most this many pixels together (a 1080p clip: 3 frames a batch)


@dataclass(frozen=True)
class ClipResult:
    """A written clip: its frames and, when it broke off, the sentence saying where."""

    output: Path
    frames: int
    broken: str | None


def _batches(frames: Iterator[torch.Tensor], size: int) -> Iterator[list[torch.Tensor]]:
    while batch := list(islice(frames, size)):
        yield batch


def colorize_clip(
    video: VideoColorizer,
    source: Path,
    output: Path,
    batch_size: int = 8,
    progress: bool = True,
    bar: tqdm | None = None,
) -> ClipResult:
    """Colour one clip into `output` (.mp4) -> ClipResult. Raises VideoError naming the clip when nothing usable
    could be read or written; `output` then does not exist (an older file there is left as it was).

    While the network colours one batch, a thread decodes the next and another encodes the previous one (PyAV
    releases the GIL in FFmpeg's code); at most three batches are held, whatever the clip's length. A batch has at
    most `batch_size` frames and BATCH_PIXELS pixels.
    """
    video.reset()
    with (
        VideoReader(source) as reader,
        VideoWriter(output, reader.width, reader.height, reader.rate, reader.audio) as writer,
    ):
        own_bar = bar is None
        if own_bar:
            bar = tqdm(total=reader.expected_frames, unit="frame", desc=source.name, disable=not progress, leave=False)
        elif reader.expected_frames:
            bar.total = (bar.total or 0) + reader.expected_frames
            bar.refresh()
        try:
            with ThreadPoolExecutor(1) as decoder, ThreadPoolExecutor(1) as encoder:
                frames_per_batch = max(1, min(batch_size, BATCH_PIXELS // (reader.width * reader.height)))
                batches = _batches(reader.frames(on_audio=writer.add_audio), frames_per_batch)
                upcoming: Future = decoder.submit(next, batches, None)
                written: Future | None = None
                while (batch := upcoming.result()) is not None:
                    upcoming = decoder.submit(next, batches, None)
                    coloured = video.colorize_frames(batch)
                    if written is not None:
                        written.result()
                    written = encoder.submit(writer.write, coloured)
                    bar.update(len(batch))
                if written is not None:
                    written.result()
        finally:
            if own_bar:
                bar.close()
        if reader.frames_read == 0:
            reason = "none decodes" if reader.broken else "its video stream is empty"
            raise VideoError(f"{source}: holds no video frames ({reason}); pass a clip with at least one frame")
        writer.commit()
        return ClipResult(output, reader.frames_read, reader.broken)


def colorize_clips(
    make_video: Callable[[], VideoColorizer],
    jobs: Sequence[tuple[Path, Path]],
    batch_size: int,
    progress: bool = True,
) -> tuple[int, int, list[str]]:
    """Colour (source, output) clips one after another -> (clips written, frames written, failure messages).

    One progress bar counts the frames of all clips (its total is what the clips state). A failure is printed
    with its sentence and the other clips are still coloured.
    """
    clips, frames, failures = 0, 0, []
    video = make_video() if jobs else None
    with tqdm(unit="frame", disable=not progress) as bar:
        for source, output in jobs:
            try:
                result = colorize_clip(video, source, output, batch_size, progress, bar)
            except VideoError as error:
                failures.append(str(error))
                bar.write(f"failed: {error}", file=sys.stderr)
                continue
            clips += 1
            frames += result.frames
            if video.cuts:
                shown = ", ".join(map(str, video.cuts[:10])) + (", ..." if len(video.cuts) > 10 else "")
                bar.write(f"{source}: {len(video.cuts)} scene cuts or keyframes, colours restarted at frames {shown}")
            if result.broken:
                failures.append(result.broken)
                bar.write(f"failed: {result.broken}", file=sys.stderr)
    return clips, frames, failures
