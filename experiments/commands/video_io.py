"""Reading and writing clips with PyAV (FFmpeg's libraries in its wheels; no ffmpeg binary): `VideoReader` streams
a clip's frames as RGB tensors and its audio packets, `VideoWriter` encodes coloured frames to H.264 MP4 under a
temporary name in the output folder and renames it to the output only when the clip is whole.

Frames are (3, H, W) uint8 RGB tensors. Every input a user can fix (not a video, no video stream, no frames, a codec
this FFmpeg cannot decode, an output that cannot be written) raises `VideoError`, one sentence naming the file.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Self

import av
import av.error
import numpy as np
import torch

from pseudocolor.datamodules.errors import PseudocolorError

VIDEO_CODECS = ("libx264", "libopenh264", "mpeg4")  # the first this PyAV build can encode is used
VIDEO_OPTIONS = {"libx264": {"crf": "14", "preset": "veryfast"}}  # mean |delta L| about 1 on textured pans
MP4_AUDIO_CODECS = {
    "aac",
    "mp3",
    "mp3float",
    "alac",
    "ac3",
    "eac3",
    "opus",
    "flac",
}  # copied as they are; others become AAC
DEFAULT_RATE = Fraction(25)  # frames/s when a clip states none


class VideoError(PseudocolorError):
    """A clip that cannot be read or written; the message names the file and what to do."""


def _reason(error: Exception) -> str:
    """FFmpeg's words for an error, without PyAV's errno and file name."""
    return getattr(error, "strerror", None) or str(error)


def _seconds(value: str) -> float | None:
    """'HH:MM:SS.fraction' (Matroska's DURATION tag) -> seconds, None when it does not parse."""
    try:
        hours, minutes, seconds = value.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


class VideoReader:
    """One clip opened for reading: its first video stream decoded to RGB frames, its first audio stream's packets
    handed on untouched.

    Attributes:
        path: the clip.
        width, height: frame size (px); frames of another size mid-clip are resized to it.
        rate: frames per second (DEFAULT_RATE when the clip states none).
        expected_frames: frames the clip says it holds (from its frame count or duration), None when unknown.
        audio: the first audio stream, or None.
        frames_read: frames decoded so far.
        broken: after `frames`, one sentence saying where the clip broke off, None when it was read whole.

    Raises VideoError when the file cannot be opened as a video, holds no video stream or its codec cannot be decoded.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._container = av.open(str(self.path), metadata_errors="ignore")
        except av.error.EOFError:
            raise VideoError(
                f"{self.path}: holds no video frames (it ends before the first); pass a clip with at least one frame"
            ) from None
        except av.error.FFmpegError as error:
            raise VideoError(
                f"{self.path}: cannot be read as a video ({_reason(error)}); check that it is a whole video file"
            ) from None
        except OSError as error:
            raise VideoError(f"{self.path}: cannot be opened ({error.strerror or error}); check the path") from None
        try:
            if not self._container.streams.video:
                raise VideoError(
                    f"{self.path}: holds no video frames (no video stream); pass a clip with at least one frame"
                )
            self._stream = self._container.streams.video[0]
            codec = self._stream.codec_context
            if codec is None or codec.codec is None or not codec.codec.is_decoder:
                raise VideoError(
                    f"{self.path}: its video codec cannot be decoded by this FFmpeg (PyAV {av.__version__}); "
                    "convert it to H.264 or VP9 first"
                )
        except BaseException:
            self._container.close()
            raise
        self._stream.thread_type = "AUTO"
        self.width, self.height = self._stream.width, self._stream.height
        self.rate = Fraction(self._stream.average_rate or self._stream.guessed_rate or DEFAULT_RATE)
        self.expected_frames = self._expected_frames()
        audio = self._container.streams.audio
        self.audio = audio[0] if audio else None
        self.frames_read = 0
        self.broken: str | None = None

    def _expected_frames(self) -> int | None:
        stream = self._stream
        if stream.frames:
            return int(stream.frames)
        seconds = None
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        elif "DURATION" in stream.metadata:
            seconds = _seconds(stream.metadata["DURATION"])
        elif self._container.duration is not None and len(self._container.streams) == 1:
            seconds = self._container.duration / av.time_base
        return None if seconds is None else round(seconds * float(self.rate))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def _rgb(self, frame: av.VideoFrame) -> torch.Tensor:
        array = frame.to_ndarray(format="rgb24", width=self.width, height=self.height)
        return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)

    def frames(self, on_audio: Callable[[av.Packet], None] | None = None) -> Iterator[torch.Tensor]:
        """Decode the clip -> (3, H, W) uint8 RGB frames in order; audio packets go to `on_audio` as they come.

        A clip that breaks off (a read or decode error, or fewer frames than it states) ends the frames early and
        sets `broken`; frames before the break are yielded."""
        streams = [self._stream] + ([self.audio] if self.audio is not None and on_audio is not None else [])
        damaged = None  # (frame index, FFmpeg's reason) of the first packet that would not decode
        try:
            for packet in self._container.demux(streams):
                if packet.stream.type == "audio":
                    if packet.dts is not None:
                        on_audio(packet)
                    continue
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError as error:  # a damaged packet: later ones may decode again
                    damaged = damaged or (self.frames_read, _reason(error))
                    continue
                for frame in decoded:
                    self.frames_read += 1
                    yield self._rgb(frame)
        except av.error.FFmpegError as error:  # the file itself cannot be read on
            damaged = damaged or (self.frames_read, _reason(error))
        expected = self.expected_frames
        if damaged is not None:
            self.broken = (
                f"{self.path}: broke off after frame {damaged[0]} ({damaged[1]}); {self.frames_read} frames could be "
                "read and were coloured, re-encode or re-download the clip to get the rest"
            )
        elif expected is not None and 0 < self.frames_read < expected - 1:
            self.broken = (
                f"{self.path}: broke off after frame {self.frames_read} of the {expected} it states; the frames "
                "before were coloured, re-encode or re-download the clip to get the rest"
            )


def _video_codec() -> str:
    for name in VIDEO_CODECS:
        if name in av.codecs_available:
            return name
    raise VideoError(f"this PyAV build ({av.__version__}) has none of the encoders {', '.join(VIDEO_CODECS)}")


class VideoWriter:
    """An MP4 clip being written: H.264 video (4:2:0, or 4:4:4 when a side is odd), the source's audio copied (or
    re-encoded to AAC when MP4 cannot hold its codec).

    The file is written as `.<name>.part.mp4` in the output folder and renamed to `output` by `commit`; `discard`
    (or leaving the `with` block on an exception) removes it, so nothing half-written is left under the output name.

    Args:
        output: the clip's final path (.mp4).
        width, height: frame size (px).
        rate: frames per second.
        audio: the source's audio stream to carry over, or None.
    """

    def __init__(self, output: Path, width: int, height: int, rate: Fraction, audio: av.AudioStream | None = None):
        self.output = Path(output)
        self.temporary = self.output.with_name(f".{self.output.stem}.part{os.getpid()}.mp4")
        self._frames = 0
        self._lock = threading.Lock()  # frames and audio packets may come from two threads
        try:
            self.output.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(self.temporary), "w", format="mp4")
        except (OSError, av.error.FFmpegError) as error:
            raise VideoError(f"{self.output}: cannot be written ({_reason(error)}); check the output folder") from None
        try:
            codec = _video_codec()
            self._stream = self._container.add_stream(codec, rate=rate, options=VIDEO_OPTIONS.get(codec, {}))
            self._stream.width, self._stream.height = width, height
            self._stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
            self._audio_in = audio
            self._audio_out = None
            self._transcode = False
            if audio is not None:
                if audio.codec_context.name in MP4_AUDIO_CODECS:
                    self._audio_out = self._container.add_stream_from_template(audio)
                else:
                    self._transcode = True
                    self._audio_out = self._container.add_stream("aac", rate=audio.codec_context.sample_rate)
                    self._audio_out.layout = audio.codec_context.layout
            self._container.start_encoding()  # header and encoders now, before two threads write
        except av.error.FFmpegError as error:
            self.discard()
            raise VideoError(f"{self.output}: cannot be written ({_reason(error)}); check the output folder") from None
        except BaseException:
            self.discard()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, *exc_info) -> None:
        if exc_type is not None or self.temporary.exists():
            self.discard()

    def _mux(self, packets: Sequence[av.Packet]) -> None:
        try:
            with self._lock:
                self._container.mux(packets)
        except (OSError, av.error.FFmpegError) as error:
            raise VideoError(f"{self.output}: cannot be written ({_reason(error)}); check the output folder") from None

    def write(self, frames: Sequence[torch.Tensor]) -> None:
        """Append frames, each (3, H, W) uint8 RGB of the writer's size."""
        for frame in frames:
            if frame.ndim != 3 or frame.shape[0] != 3 or frame.dtype != torch.uint8:
                raise ValueError(f"frames must be (3, H, W) uint8, got {tuple(frame.shape)} {frame.dtype}")
            video_frame = av.VideoFrame.from_ndarray(frame.permute(1, 2, 0).cpu().numpy(), format="rgb24")
            video_frame.pts = self._frames
            self._frames += 1
            self._mux(self._stream.encode(video_frame))

    def add_audio(self, packet: av.Packet) -> None:
        """Carry one audio packet of the source's audio stream over (as it is, or re-encoded)."""
        if self._audio_out is None:
            return
        if self._transcode:
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                return  # a damaged audio packet: a moment of silence rather than a lost clip
            for frame in decoded:
                frame.pts = None
                self._mux(self._audio_out.encode(frame))
        else:
            packet.stream = self._audio_out
            self._mux([packet])

    def commit(self) -> Path:
        """Flush the encoders, close the file and rename it to `output` -> `output`."""
        self._mux(self._stream.encode(None))
        if self._transcode:
            self._mux(self._audio_out.encode(None))
        try:
            self._container.close()
            os.replace(self.temporary, self.output)
        except (OSError, av.error.FFmpegError) as error:
            self.discard()
            raise VideoError(f"{self.output}: cannot be written ({_reason(error)}); check the output folder") from None
        return self.output

    def discard(self) -> None:
        """Close and remove the temporary file (the output name is never touched)."""
        try:
            self._container.close()
        except (OSError, av.error.FFmpegError, AttributeError):
            pass
        self.temporary.unlink(missing_ok=True)


def write_clip(path: str | Path, frames: Sequence[torch.Tensor], rate: float | Fraction = DEFAULT_RATE) -> Path:
    """Write (3, H, W) uint8 RGB frames as an MP4 clip at `rate` frames/s -> `path` (scripts and tests)."""
    with VideoWriter(Path(path), frames[0].shape[-1], frames[0].shape[-2], Fraction(rate)) as writer:
        writer.write(frames)
        return writer.commit()
