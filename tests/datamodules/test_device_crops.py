"""Random resized crops on the device: whole-photo crops are the photo or its mirror, crops stay in range."""

import pytest
import torch

from pseudocolor.datamodules.device_crops import random_resized_crops


def photos(batch=64, size=16):
    return torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_a_whole_photo_crop_is_the_photo_or_its_mirror_image():
    source = photos()
    crops = random_resized_crops(source, 16, min_area=1.0, max_aspect=1.0, generator=torch.Generator().manual_seed(1))
    rgb = source.float() / 255
    same = (crops - rgb).abs().amax(dim=(1, 2, 3)) < 1e-5
    mirrored = (crops - rgb.flip(-1)).abs().amax(dim=(1, 2, 3)) < 1e-5
    assert bool((same | mirrored).all()) and 10 < int(mirrored.sum()) < 54  # about half flipped


def test_smaller_crops_show_a_part_of_the_photo_zoomed_in():
    ramp = torch.arange(32, dtype=torch.float32) * 255 / 31  # left to right, 0 to 255
    source = ramp.expand(64, 3, 32, 32).round().to(torch.uint8)
    crops = random_resized_crops(source, 24, min_area=0.25, max_aspect=1.0, generator=torch.Generator().manual_seed(2))
    assert crops.shape == (64, 3, 24, 24) and crops.min() >= 0 and crops.max() <= 1
    shown = crops[:, 0, 12].amax(dim=1) - crops[:, 0, 12].amin(dim=1)  # the fraction of the width each crop shows
    assert bool((shown > 0.5 - 0.1).all()) and bool((shown <= 1).all())  # area >= 1/4: at least half the width
    assert float(shown.min()) < 0.7 and float(shown.max()) > 0.9  # some zoomed in, some (nearly) whole


def test_a_bad_shape_is_refused():
    with pytest.raises(ValueError, match=r"\(B, 3, S, S\)"):
        random_resized_crops(torch.zeros(3, 8, 8, dtype=torch.uint8), 8)
