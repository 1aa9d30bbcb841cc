"""Every file of the bad-photo zoo gives the outcome it must, through the datasets of training and evaluation."""

import pytest
import torch

from pseudocolor.datamodules.image_dataset import SKIP_BAD, ImageFileDataset
from pseudocolor.datamodules.transforms import eval_transform, squash_transform, train_transform
from tests.bad_photos import USED, file_permissions_enforced, write_zoo

CROP = 128


@pytest.mark.parametrize("transform", [train_transform(CROP), eval_transform(CROP), squash_transform(CROP)])
def test_each_zoo_file_is_used_or_skipped_as_it_must_be(tmp_path, transform):
    zoo = write_zoo(tmp_path / "zoo")
    dataset = ImageFileDataset([item.path for item in zoo], transform, skip_grey=True)
    with file_permissions_enforced():
        items = [dataset[index] for index in range(len(zoo))]
    for expected, item in zip(zoo, items):
        assert (item["skip"] or USED) == expected.outcome, (expected.path.name, item["reason"])
        if expected.outcome == USED:
            assert item["image"].shape == (3, CROP, CROP) and item["image"].dtype == torch.uint8
        else:
            assert item["image"] is None and item["reason"].startswith(str(expected.path))
        if expected.outcome == SKIP_BAD:
            assert expected.reason in item["reason"]


@pytest.mark.parametrize("size", [(20, 30), (30, 20), (1, 300)])
def test_photos_smaller_than_the_crop_are_resized_up(size):
    image = torch.randint(0, 256, (3, *size), dtype=torch.uint8)
    for transform in (train_transform(CROP), eval_transform(CROP), squash_transform(CROP)):
        assert transform(image).shape == (3, CROP, CROP)
