"""The benchmark's flicker measures on rendered clips: the true clip's own pixel-level value mostly cancels in blocks,
while a colour that shifts over the picture counts in full in both."""

import torch

from pseudocolor.datamodules.color_space import lab_to_rgb, rgb_to_lab, to_uint8
from pseudocolor.datamodules.decoding import decode_image
from pseudocolor.datamodules.sample_photos import SAMPLES_DIR
from pseudocolor.experiments.scripts.benchmark_video import FLICKER_BLOCK, camera_path, flicker, render_shot

SIZE = (96, 128)


def true_clip() -> tuple[list[torch.Tensor], object]:
    photo = decode_image(SAMPLES_DIR / "kodim23.jpg")
    shot = camera_path(tuple(photo.shape[-2:]), SIZE, 8)
    return render_shot(photo, shot, SIZE), shot


def test_blocks_leave_out_most_of_the_true_clips_own_resampling_difference():
    frames, shot = true_clip()
    pixels, blocks = flicker(frames, shot), flicker(frames, shot, FLICKER_BLOCK)
    assert pixels > 0.1 and blocks < 0.6 * pixels


def test_a_colour_shift_every_other_frame_counts_in_full_in_blocks():
    frames, shot = true_clip()
    shifted = []
    for index, frame in enumerate(frames):
        lab = rgb_to_lab(frame.float()[None] / 255)
        lab[:, 1] += 6.0 * (index % 2)  # a* up by 6 on odd frames: a flicker any viewer sees
        shifted.append(to_uint8(lab_to_rgb(lab))[0])
    steady = flicker(frames, shot, FLICKER_BLOCK)
    assert flicker(shifted, shot, FLICKER_BLOCK) > steady + 4.0
