"""Real clips written with PyAV for the video tests: a slow pan over a bundled photo, in any container, with or
without audio, plus clips cut short, empty or with a codec FFmpeg does not know."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from pseudocolor.datamodules.color_space import rgb_to_lab
from pseudocolor.datamodules.decoding import decode_image
from pseudocolor.datamodules.sample_photos import SAMPLES_DIR
from pseudocolor.experiments.scripts.benchmark_video import camera_path, render_shot

CODECS = {".mp4": "libx264", ".mov": "libx264", ".mkv": "libx264", ".avi": "mpeg4", ".webm": "libvpx-vp9"}
AUDIO_CODECS = {".mp4": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "libopus", ".avi": "mp3"}


def pan_frames(frames: int = 12, size: tuple[int, int] = (48, 64), photo: str = "kodim05.jpg") -> list[torch.Tensor]:
    """(3, H, W) uint8 frames of a slow pan and zoom over a bundled photo."""
    image = decode_image(SAMPLES_DIR / photo)
    return render_shot(image, camera_path(tuple(image.shape[-2:]), size, frames), size)


def write_video(
    path: Path, frames: list[torch.Tensor], rate: Fraction | int = 25, audio: bool = False, options: dict | None = None
) -> Path:
    """Frames -> a clip whose codec follows the suffix (CODECS), with a 440 Hz tone as audio when `audio`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", options=options or {}) as container:
        stream = container.add_stream(CODECS[path.suffix.lower()], rate=rate)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[-1], frames[0].shape[-2], "yuv420p"
        sound = None
        if audio:
            codec = AUDIO_CODECS[path.suffix.lower()]
            sample_rate = 48000 if codec == "libopus" else 44100
            sound = container.add_stream(codec, rate=sample_rate, layout="mono")
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame.permute(1, 2, 0).numpy(), format="rgb24")
            picture.pts = index
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
        if sound is not None:
            samples = int(len(frames) / float(rate) * sound.rate)
            tone = (0.3 * np.sin(np.arange(samples) * 2 * np.pi * 440 / sound.rate)).astype(np.float32)
            for start in range(0, samples, 960):
                chunk = av.AudioFrame.from_ndarray(tone[None, start : start + 960], format="flt", layout="mono")
                chunk.sample_rate, chunk.pts = sound.rate, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path


def read_video(path: Path) -> tuple[list[torch.Tensor], Fraction, list[str]]:
    """A clip -> its (3, H, W) uint8 frames, frame rate and the codec names of its audio streams."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        audio = [s.codec_context.name for s in container.streams.audio]
        frames = [torch.from_numpy(f.to_ndarray(format="rgb24")).permute(2, 0, 1) for f in container.decode(stream)]
        return frames, stream.average_rate, audio


def lightness(frames: list[torch.Tensor]) -> torch.Tensor:
    """(3, H, W) uint8 frames -> (T, 1, H, W) L in [0, 100]."""
    return rgb_to_lab(torch.stack(frames).float() / 255)[:, :1]


def write_empty_clip(path: Path, size: tuple[int, int] = (48, 64)) -> Path:
    """An MP4 with a video stream and no frames."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        container.start_encoding()  # the header only
    return path


def write_truncated_clip(path: Path, frames: list[torch.Tensor], keep: float = 0.9) -> Path:
    """An MP4 with its index in front (faststart) cut to `keep` of its bytes: the first frames still decode."""
    write_video(path, frames, options={"movflags": "faststart"})
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_unknown_codec_clip(path: Path, frames: list[torch.Tensor]) -> Path:
    """An AVI whose video codec tag is one FFmpeg does not know (MPEG-4 Part 2 renamed from FMP4 to QQQQ)."""
    write_video(path.with_suffix(".avi"), frames)
    data = path.with_suffix(".avi").read_bytes()
    assert b"FMP4" in data
    path.write_bytes(data.replace(b"FMP4", b"QQQQ"))
    return path
