"""VideoColorizer with the shipped model on real rendered clips: colours stay put along a pan, a cut restarts, L is
kept, and batching does not change the result."""

from __future__ import annotations

import pytest
import torch

from pseudocolor.datamodules.color_space import to_uint8
from pseudocolor.experiments.scripts.benchmark_video import camera_path, flicker, psnr
from pseudocolor.lightning_modules.inference import video as video_module
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.video import ConsistencySettings, VideoColorizer
from tests.deploy_helpers import assert_same_lightness
from tests.video_helpers import pan_frames

SIZE = (48, 64)


@pytest.fixture(scope="module")
def colorizer() -> Colorizer:
    return Colorizer.load("pretrained", "cpu")


@pytest.fixture(scope="module")
def clip() -> list[torch.Tensor]:
    """Eight frames panning over kodim05, then eight over kodim23 (a cut before frame 8)."""
    return pan_frames(8, SIZE, "kodim05.jpg") + pan_frames(8, SIZE, "kodim23.jpg")


def colour(video: VideoColorizer, frames: list[torch.Tensor], batch: int) -> list[torch.Tensor]:
    video.reset()
    return [
        out for start in range(0, len(frames), batch) for out in video.colorize_frames(frames[start : start + batch])
    ]


def same_but_rounding(frame: torch.Tensor, photo: torch.Tensor) -> bool:
    """A video frame and the same picture coloured as a photo differ only in how they were rounded to 8 bits (frames
    by `to_uint8_nearest`): each channel by at most one level."""
    return (frame.int() - photo.int()).abs().max() <= 1


def test_carry_zero_is_colouring_each_frame_as_a_photo(colorizer, clip):
    alone = colour(VideoColorizer(colorizer, ConsistencySettings(carry=0)), clip[:4], 4)

    assert all(same_but_rounding(a, b) for a, b in zip(alone, colorizer.colorize_batch(clip[:4])))


@pytest.mark.slow
def test_colours_flicker_less_along_a_pan_and_the_cut_restarts(colorizer, clip):
    per_frame = colour(VideoColorizer(colorizer, ConsistencySettings(carry=0)), clip, 8)
    video = VideoColorizer(colorizer)
    consistent = colour(video, clip, 8)

    shot = camera_path((256, 384), SIZE, 8)  # kodim05 is 384 x 256
    assert flicker(consistent[:8], shot) < 0.8 * flicker(per_frame[:8], shot)
    assert psnr(consistent, clip) > psnr(per_frame, clip) - 0.2
    assert video.cuts == [8]
    assert torch.equal(consistent[8], per_frame[8])  # nothing carried over the cut
    for out, frame in zip(consistent, clip):
        assert_same_lightness(out, frame)


@pytest.mark.slow
def test_the_batch_size_does_not_change_the_colours(colorizer, clip):
    video = VideoColorizer(colorizer, record_stats=True)

    whole = colour(video, clip[:10], 10)
    pieces = colour(video, clip[:10], 3)

    assert all((a.int() - b.int()).abs().max() <= 1 for a, b in zip(whole, pieces))
    assert video.frames_seen == 10 and len(video.stats) == 10


@pytest.mark.slow
def test_rounding_to_the_nearest_lab_colour_flickers_less_than_plain_rounding(colorizer, clip, monkeypatch):
    nearest = colour(VideoColorizer(colorizer), clip[:8], 8)
    monkeypatch.setattr(video_module, "to_uint8_nearest", lambda rgb, lab: to_uint8(rgb))
    plain = colour(VideoColorizer(colorizer), clip[:8], 8)

    shot = camera_path((256, 384), SIZE, 8)
    assert flicker(nearest, shot) < 0.9 * flicker(plain, shot)  # 0.30 against 0.39 when written
    assert all(same_but_rounding(a, b) for a, b in zip(nearest, plain))


def test_reset_starts_a_new_clip(colorizer, clip):
    video = VideoColorizer(colorizer, record_stats=True)
    video.colorize_frames(clip[:3])

    video.reset()
    first = video.colorize_frames(clip[5:6])

    assert video.frames_seen == 1 and video.stats[0].restarted and video.cuts == []
    assert same_but_rounding(first[0], colorizer.colorize_batch(clip[5:6])[0])


def test_bad_frames_and_settings_are_named(colorizer, clip):
    video = VideoColorizer(colorizer)
    with pytest.raises(ValueError, match=r"\(3, H, W\) uint8 of one size"):
        video.colorize_frames([clip[0], clip[1][:, :20]])
    with pytest.raises(ValueError, match=r"small_l must have shape \(B, 1, S, S\)"):
        video.small_ab(torch.zeros(2, 3, 256, 256))
    with pytest.raises(ValueError, match=r"carry must be in \[0, 1\)"):
        VideoColorizer(colorizer, ConsistencySettings(carry=1.0))
