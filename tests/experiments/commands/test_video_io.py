"""PyAV reading and writing of real clips: frames, size and rate survive, audio is carried, and every kind of bad
clip ends in one sentence naming it with nothing left under the output name."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from pseudocolor.experiments.commands.video_io import VideoError, VideoReader, VideoWriter, write_clip
from tests.video_helpers import (
    CODECS,
    lightness,
    pan_frames,
    read_video,
    write_truncated_clip,
    write_unknown_codec_clip,
    write_video,
)


@pytest.fixture(scope="module")
def frames() -> list[torch.Tensor]:
    return pan_frames(12, (48, 64))


@pytest.mark.parametrize("suffix", sorted(CODECS))
def test_every_container_is_read_whole(tmp_path, frames, suffix):
    clip = write_video(tmp_path / f"clip{suffix}", frames, rate=Fraction(30000, 1001))

    with VideoReader(clip) as reader:
        read = list(reader.frames())

    assert (reader.width, reader.height, reader.rate) == (64, 48, Fraction(30000, 1001))
    assert len(read) == 12 and reader.expected_frames == 12 and reader.broken is None
    assert (lightness(read) - lightness(frames)).abs().mean() < 5  # the same frames, in order, through lossy coding


@pytest.mark.parametrize("size", [(48, 64), (49, 65)])
def test_the_writer_keeps_frames_rate_size_and_lightness(tmp_path, frames, size):
    shaped = [torch.nn.functional.pad(f, (0, size[1] - 64, 0, size[0] - 48), mode="replicate") for f in frames]

    out = write_clip(tmp_path / "out" / "clip.mp4", shaped, Fraction(24000, 1001))

    read, rate, audio = read_video(out)
    assert len(read) == 12 and tuple(read[0].shape[-2:]) == size and rate == Fraction(24000, 1001) and audio == []
    assert (lightness(read) - lightness(shaped)).abs().mean() < 1.5
    assert sorted(p.name for p in out.parent.iterdir()) == ["clip.mp4"]


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".avi"])
def test_audio_packets_reach_the_output(tmp_path, frames, suffix):
    clip = write_video(tmp_path / f"clip{suffix}", frames, audio=True)

    with (
        VideoReader(clip) as reader,
        VideoWriter(tmp_path / "out.mp4", reader.width, reader.height, reader.rate, reader.audio) as writer,
    ):
        writer.write(list(reader.frames(on_audio=writer.add_audio)))
        writer.commit()

    read, _, audio = read_video(tmp_path / "out.mp4")
    assert len(read) == 12 and len(audio) == 1


def test_a_file_that_is_not_a_video_is_named(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("shopping list: milk, eggs\n")

    with pytest.raises(
        VideoError, match=r"notes\.mp4: cannot be read as a video .*check that it is a whole video file"
    ):
        VideoReader(fake)


def test_an_unknown_codec_is_named(tmp_path, frames):
    clip = write_unknown_codec_clip(tmp_path / "odd.avi", frames)

    with pytest.raises(VideoError, match=r"odd\.avi: its video codec cannot be decoded by this FFmpeg"):
        VideoReader(clip)


def test_a_truncated_clip_gives_the_frames_before_the_break_and_says_where(tmp_path, frames):
    clip = write_truncated_clip(tmp_path / "cut.mp4", frames)

    with VideoReader(clip) as reader:
        read = list(reader.frames())

    assert 0 < len(read) < 11
    assert reader.broken == (
        f"{clip}: broke off after frame {len(read)} of the 12 it states; the frames before were coloured, "
        "re-encode or re-download the clip to get the rest"
    )


def test_a_discarded_writer_leaves_nothing(tmp_path, frames):
    with pytest.raises(RuntimeError, match="stop"), VideoWriter(tmp_path / "clip.mp4", 64, 48, Fraction(25)) as writer:
        writer.write(frames[:3])
        assert writer.temporary.exists() and writer.temporary.parent == tmp_path
        raise RuntimeError("stop")

    assert list(tmp_path.iterdir()) == []
