"""InstanceSegmenter on real torchvision Mask R-CNNs with random weights biased to see people everywhere
or nothing (see `tests.conftest.write_maskrcnn_weights`); the released COCO weights cannot be fetched here."""

import math

import pytest
import torch
from torchvision.models.detection import maskrcnn_resnet50_fpn_v2

from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.lightning_modules.guided.segmentation import (
    V1_KEY,
    InstanceSegmenter,
    RegionFallbackWarning,
    SegmenterLoadError,
    auto_region,
    box_mask,
    parse_box,
    regions_from_boxes,
)
from tests.conftest import PickledCode, colourful_array

SIZE = 128  # detector short side: the default 800 costs seconds per call on 2 CPU cores
BOX = (30, 20, 90, 70)


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    """(3, 96, 128) float grey photo, channels equal: what colorize gets."""
    grey = torch.from_numpy(colourful_array(96, 128, seed=4)).float().mean(dim=2) / 255
    return grey.expand(3, -1, -1).clone()


@pytest.fixture(scope="module")
def segmenter(maskrcnn_weights) -> InstanceSegmenter:
    return InstanceSegmenter.load(maskrcnn_weights["person"], min_size=SIZE)


@pytest.fixture(scope="module")
def blind(maskrcnn_weights) -> InstanceSegmenter:
    return InstanceSegmenter.load(maskrcnn_weights["nothing"], min_size=SIZE)


@pytest.fixture(scope="module")
def everything(segmenter, image):
    return segmenter.masks(image)


def _iou(a, b) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda box: (box[2] - box[0]) * (box[3] - box[1])  # noqa: E731
    return width * height / (area(a) + area(b) - width * height)


def test_masks_are_image_sized_most_confident_first_with_coco_names(everything):
    count = everything.masks.shape[0]
    assert everything.masks.shape == (count, 96, 128) and everything.masks.dtype == torch.bool and count > 1
    assert everything.boxes.shape == (count, 4) and everything.scores.shape == (count,)
    assert everything.labels == ["person"] * count
    assert (everything.scores[:-1] >= everything.scores[1:]).all() and everything.scores.min() >= 0.5
    assert everything.masks.flatten(1).any(dim=1).all()


def test_a_grey_channel_and_max_regions(segmenter, image, everything):
    found = segmenter.masks(image[:1], max_regions=3)  # (1, H, W) grey gives the same as its 3-channel copy
    assert torch.equal(found.masks, everything.masks[:3]) and found.labels == everything.labels[:3]


def test_a_box_gives_the_best_overlapping_instance_cut_to_the_box(segmenter, image, everything):
    found = segmenter.masks(image, box=BOX)

    inside = box_mask(BOX, (96, 128))
    pairs = zip(everything.boxes.tolist(), everything.masks)
    overlaps = [_iou(box, BOX) if (mask & inside).any() else 0 for box, mask in pairs]
    best = max(range(len(overlaps)), key=overlaps.__getitem__)
    assert best != 0  # not simply the most confident instance
    assert found.masks.shape == (1, 96, 128) and found.labels == ["person"]
    assert torch.equal(found.masks[0], everything.masks[best] & inside)
    assert not found.masks[0, ~inside].any()


def test_nothing_in_the_box_falls_back_to_the_box_with_a_warning(blind, image):
    with pytest.warns(RegionFallbackWarning, match="inside box 30,20,90,70; colouring the whole box rectangle"):
        found = blind.masks(image, box=BOX)

    assert torch.equal(found.masks[0], box_mask(BOX, (96, 128))) and found.masks.shape == (1, 96, 128)
    assert found.labels == ["box"] and math.isnan(found.scores[0])


def test_the_automatic_region_is_the_largest_instance(segmenter, image, everything):
    reference = torch.rand(3, 20, 30)
    region = auto_region(segmenter, image, reference)

    areas = everything.masks.flatten(1).sum(dim=1)
    assert areas.argmax() != 0  # the largest is not the most confident: the choice matters
    assert torch.equal(region.mask, everything.masks[areas.argmax()]) and region.reference is reference


def test_no_instance_gives_no_automatic_region_and_a_warning(blind, image):
    with pytest.warns(RegionFallbackWarning, match="no instance scoring 0.5 or more was detected"):
        assert auto_region(blind, image, torch.rand(3, 20, 30)) is None
    assert blind.masks(image).masks.shape == (0, 96, 128)


def test_regions_from_boxes_keeps_the_order_and_the_references(blind, image):
    references = [torch.rand(3, 8, 8), torch.rand(3, 9, 9)]
    boxes = [(0, 0, 10, 10), (50, 40, 128, 96)]
    with pytest.warns(RegionFallbackWarning):
        regions = regions_from_boxes(blind, image, list(zip(boxes, references)))
    assert [r.reference for r in regions] == references
    assert all(torch.equal(r.mask, box_mask(box, (96, 128))) for r, box in zip(regions, boxes))
    assert regions[1].name == "box 50,40,128,96 (box)"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s, image: s.masks(image, box=(30, 20, 129, 70)), "not inside the 128x96 image"),
        (lambda s, image: s.masks(image, box=(30, 20, 30, 70)), "is empty"),
        (lambda s, image: s.masks(image[None]), r"shape \(3, H, W\) or \(1, H, W\)"),
        (lambda s, image: s.masks(image, score_threshold=1.5), r"score_threshold must be in \[0, 1\]"),
    ],
)
def test_bad_inputs_are_refused_before_detecting(blind, image, call, message):
    with pytest.raises((ValueError, PseudocolorError), match=message):
        call(blind, image)


@pytest.mark.parametrize(
    ("text", "message"),
    [("40,30,200", "is not X0,Y0,X1,Y1"), ("40,30,-2,9", "is not X0,Y0,X1,Y1"), ("40,30,40,90", "is empty")],
)
def test_parse_box(text, message):
    assert parse_box(" 4, 3,20 ,18") == (4, 3, 20, 18)
    with pytest.raises(PseudocolorError, match=message):
        parse_box(text)


def _bad_files(folder):
    torch.save({"conv.weight": torch.zeros(3)}, folder / "other.pth")
    torch.save(torch.zeros(3), folder / "tensor.pth")
    torch.save({"model": PickledCode(str(folder / "pwned"))}, folder / "pickle.pth")
    (folder / "text.pth").write_text("not a torch file")
    return folder


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.pth", "Mask R-CNN weights file not found"),
        ("other.pth", "is not a torchvision Mask R-CNN state dict (its keys or shapes differ)"),
        ("tensor.pth", "is not a torchvision Mask R-CNN state dict"),
        ("pickle.pth", "cannot be read as a tensor state dict"),
        ("text.pth", "cannot be read as a tensor state dict"),
    ],
)
def test_bad_weight_files_are_one_sentence_naming_the_file_and_the_fix(tmp_path, name, message):
    with pytest.raises(SegmenterLoadError) as error:
        InstanceSegmenter.load(_bad_files(tmp_path) / name)

    text = str(error.value)
    assert text.startswith(str(tmp_path / name)) and message in text and "\n" not in text
    assert text.endswith("maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth and pass it with --segmenter-weights")
    assert not (tmp_path / "pwned").exists()  # weights_only: the pickled code never ran


def test_a_v2_state_dict_is_recognised_by_its_keys(tmp_path):
    torch.save(maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None).state_dict(), tmp_path / "v2.pth")

    segmenter = InstanceSegmenter.load(tmp_path / "v2.pth", min_size=SIZE)

    keys = segmenter.model.state_dict()
    assert V1_KEY not in keys and "roi_heads.box_head.0.0.weight" in keys


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_a_gpu_the_masks_come_back_on_the_image_device(maskrcnn_weights, image):
    segmenter = InstanceSegmenter.load(maskrcnn_weights["person"], device="cuda", min_size=SIZE)
    found = segmenter.masks(image, box=BOX)
    assert found.masks.device == image.device and segmenter.device.type == "cuda"
