"""`pseudocolor colorize` on real clips with the shipped model: every container comes out as an MP4 with the same
frames, rate, size and lightness (and audio); bad clips fail in one sentence naming them, with nothing half-written."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import pytest
import torch

from pseudocolor.datamodules.color_space import rgb_to_lab
from pseudocolor.datamodules.sample_photos import SAMPLES_DIR
from pseudocolor.experiments.commands.colorize import main
from tests.conftest import write_photo
from tests.video_helpers import (
    lightness,
    pan_frames,
    read_video,
    write_empty_clip,
    write_truncated_clip,
    write_unknown_codec_clip,
    write_video,
)


@pytest.fixture(scope="module")
def frames() -> list[torch.Tensor]:
    return pan_frames(12, (48, 64))


def colorize(*args) -> int:
    return main([*map(str, args), "--device", "cpu", "--no-progress"])


def assert_same_clip(out, source) -> None:
    """`out` holds the frames of `source` with their lightness (through lossy coding), at its rate."""
    coloured, rate, _ = read_video(out)
    original, source_rate, _ = read_video(source)
    assert len(coloured) == len(original) and rate == source_rate
    assert coloured[0].shape == original[0].shape
    assert (lightness(coloured) - lightness(original)).abs().mean() <= 1.5
    assert torch.stack(coloured).float().std(dim=1).mean() > 1  # it has colour


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mov", ".mkv", ".webm"])
def test_every_container_becomes_an_mp4_with_its_frames_rate_size_lightness_and_audio(tmp_path, frames, suffix):
    source = write_video(tmp_path / f"clip{suffix}", frames, rate=Fraction(30000, 1001), audio=True)

    assert colorize(source, "-o", tmp_path / "out") == 0

    out = tmp_path / "out" / "clip.mp4"
    assert sorted(p.name for p in out.parent.iterdir()) == ["clip.mp4"]
    assert_same_clip(out, source)
    assert len(read_video(out)[2]) == 1  # the audio stream came along


@pytest.mark.slow
def test_the_command_line_colours_a_clip_and_photos_together(tmp_path, frames):
    source = write_video(tmp_path / "in" / "Clip.MKV", frames)
    photo = write_photo(tmp_path / "in" / "photo.jpg", height=48, width=64)

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pseudocolor.experiments.cli",
            "colorize",
            str(source),
            str(photo),
            "-o",
            str(tmp_path / "out"),
            "--device",
            "cpu",
            "--batch-size",
            "5",
        ],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["Clip.mp4", "photo.png"]
    assert "colorized 1 images, 0 failed" in done.stdout
    assert "colorized 1 clips (12 frames), 0 failed" in done.stdout
    assert "12/12" in done.stderr  # the progress bar counts frames
    assert_same_clip(tmp_path / "out" / "Clip.mp4", source)


def test_a_file_that_is_not_a_video_is_named_and_nothing_is_written(tmp_path, frames, capsys):
    fake = tmp_path / "holiday.mp4"
    fake.write_text("not a video at all\n")
    good = write_video(tmp_path / "good.mp4", frames[:4])

    status = colorize(fake, good, "-o", tmp_path / "out")

    captured = capsys.readouterr()
    assert status == 1
    assert f"failed: {fake}: cannot be read as a video" in captured.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.mp4"]
    assert "colorized 1 clips (4 frames), 1 failed" in captured.out


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda path, frames: write_empty_clip(path), "holds no video frames"),
        (lambda path, frames: write_empty_clip(path.with_suffix(".mkv")), "holds no video frames"),
        (write_unknown_codec_clip, "its video codec cannot be decoded by this FFmpeg"),
    ],
    ids=["no frames mp4", "no frames mkv", "unknown codec"],
)
def test_a_clip_without_usable_frames_fails_in_one_sentence_and_leaves_no_output(
    tmp_path, frames, make, message, capsys
):
    clip = make(tmp_path / "bad.mp4", frames)

    status = colorize(clip, "-o", tmp_path / "out")

    err = capsys.readouterr().err
    assert status == 1
    assert err.count("\n") == 1 and err.startswith(f"failed: {clip}: {message}")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_a_truncated_clip_is_coloured_up_to_the_break_and_fails(tmp_path, frames, capsys):
    clip = write_truncated_clip(tmp_path / "cut.mp4", frames)

    status = colorize(clip, "-o", tmp_path / "out")

    err = capsys.readouterr().err
    coloured, _, _ = read_video(tmp_path / "out" / "cut.mp4")
    assert status == 1
    assert 0 < len(coloured) < 12
    assert f"failed: {clip}: broke off after frame {len(coloured)} of the 12 it states" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cut.mp4"]


def test_an_existing_output_is_kept_unless_overwrite(tmp_path, frames, capsys):
    clip = write_video(tmp_path / "clip.mp4", frames[:3])
    out = tmp_path / "out" / "clip.mp4"
    out.parent.mkdir()
    out.write_bytes(b"older")

    assert colorize(clip, "-o", out.parent) == 0
    assert out.read_bytes() == b"older" and "1 skipped" in capsys.readouterr().out

    assert colorize(clip, "-o", out.parent, "--overwrite", "--per-frame") == 0
    assert len(read_video(out)[0]) == 3


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--hint", "3,4,#ff0000"], "guide photos only, and .*clip.mp4 is a video clip"),
        (["--keyframe", "x=ref.jpg"], "expected N=REFERENCE.jpg"),
        (["--keyframe", "3=missing.jpg"], "--keyframe 3=missing.jpg: reference .*missing.jpg"),
    ],
)
def test_flags_that_do_not_fit_a_clip_exit_2(tmp_path, frames, flags, message, capsys):
    clip = write_video(tmp_path / "clip.mp4", frames[:2])

    assert colorize(clip, "-o", tmp_path / "out", *flags) == 2

    assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "out").exists()


def test_keyframes_need_a_clip(tmp_path, capsys):
    photo = write_photo(tmp_path / "photo.jpg", height=48, width=64)

    assert colorize(photo, "-o", tmp_path / "out", "--keyframe", f"0={SAMPLES_DIR / 'kodim23.jpg'}") == 2
    assert "--keyframe guides video clips" in capsys.readouterr().err


@pytest.mark.slow
def test_a_keyframe_reference_turns_the_rest_of_the_clip_its_colour(tmp_path, frames):
    from PIL import Image

    red = tmp_path / "red.png"
    Image.new("RGB", (32, 32), (214, 65, 58)).save(red)
    clip = write_video(tmp_path / "clip.mp4", frames)

    assert colorize(clip, "-o", tmp_path / "auto") == 0
    assert colorize(clip, "-o", tmp_path / "guided", "--keyframe", f"6={red}") == 0

    automatic, _, _ = read_video(tmp_path / "auto" / "clip.mp4")
    guided, _, _ = read_video(tmp_path / "guided" / "clip.mp4")
    a_gain = [(lab(g)[1].mean() - lab(a)[1].mean()).item() for a, g in zip(automatic, guided)]
    assert max(abs(gain) for gain in a_gain[:6]) < 2  # before the keyframe: automatic (up to lossy coding)
    assert min(a_gain[6:]) > 10


def lab(frame: torch.Tensor) -> torch.Tensor:
    return rgb_to_lab(frame.float()[None] / 255)[0]
