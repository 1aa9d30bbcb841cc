"""Keyframe references on a real clip with the shipped model: frames before the first keyframe are automatic, frames
from it on take the reference's colour at once (the clip restarts there), and bad keyframes are named."""

from __future__ import annotations

import pytest
import torch

from pseudocolor.datamodules.color_space import rgb_to_lab
from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.lightning_modules.guided.video_references import KeyframeReferences
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.video import VideoColorizer
from tests.video_helpers import pan_frames

RED = torch.tensor([214, 65, 58], dtype=torch.uint8)[:, None, None].expand(3, 32, 32)  # Lab about (52, 60, 40)


@pytest.fixture(scope="module")
def colorizer() -> Colorizer:
    return Colorizer.load("pretrained", "cpu")


def mean_a(frames: list[torch.Tensor]) -> torch.Tensor:
    """Mean a* of each (3, H, W) uint8 frame."""
    return rgb_to_lab(torch.stack(frames).float() / 255)[:, 1].mean(dim=(1, 2))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["transfer", "histogram"])
def test_a_keyframe_reference_colours_the_frames_from_it_on(colorizer, mode):
    frames = pan_frames(8, (48, 64), "kodim23.jpg")
    automatic = VideoColorizer(colorizer).colorize_frames(frames)
    video = VideoColorizer(colorizer, guide=KeyframeReferences(colorizer, [(4, RED)], mode))

    guided = video.colorize_frames(frames[:3]) + video.colorize_frames(frames[3:])

    assert all(torch.equal(a, g) for a, g in zip(automatic[:4], guided[:4]))
    assert video.cuts == [4]
    gain = mean_a(guided[4:]) - mean_a(automatic[4:])
    assert gain.min() > (10 if mode == "transfer" else 0), gain


def test_the_reference_of_a_frame_is_that_of_the_last_keyframe_before_it(colorizer):
    blue = torch.tensor([40, 60, 200], dtype=torch.uint8)[:, None, None].expand(3, 16, 16)
    references = KeyframeReferences(colorizer, [(10, blue), (0, RED)])

    assert references.starts() == [0, 10]
    assert references.reference_at(9) is references.reference_at(0)
    assert references.reference_at(10) is not references.reference_at(9)


@pytest.mark.parametrize(
    "keyframes, message",
    [
        ([(2, RED), (2, RED)], "keyframes must be distinct frame indices"),
        ([(-1, RED)], "keyframes must be distinct frame indices >= 0"),
        ([(3, torch.full((3, 16, 16), 128, dtype=torch.uint8))], "reference of frame 3 is grey"),
    ],
)
def test_bad_keyframes_are_named(colorizer, keyframes, message):
    with pytest.raises(PseudocolorError, match=message):
        KeyframeReferences(colorizer, keyframes)
