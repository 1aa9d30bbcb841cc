"""Automatic regions: instance masks from torchvision's COCO Mask R-CNN, weights read from a local file.

Nothing is downloaded: the user supplies torchvision's released state dict (v1
`maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth` or the v2 one), read with `torch.load(weights_only=True)`.
Images are (3, H, W) RGB or (1, H, W) grey, float in [0, 1] or uint8; boxes are (x0, y0, x1, y1) in pixels of the
image, x1 and y1 exclusive; masks are (H, W) bool.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision.models.detection import (
    MaskRCNN_ResNet50_FPN_Weights,
    maskrcnn_resnet50_fpn,
    maskrcnn_resnet50_fpn_v2,
)
from torchvision.ops import box_iou

from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.lightning_modules.guided.regions import Region

WEIGHTS_URL = "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"
WEIGHTS_REMEDY = f"download {WEIGHTS_URL} and pass it with --segmenter-weights"
COCO_LABELS = MaskRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"]  # 91 names, index = model label
V1_KEY = "roi_heads.box_head.fc6.weight"  # the v2 box head is convolutional and has no fc6
MASK_THRESHOLD = 0.5  # mask probability above which a pixel is inside (torchvision's convention)
DEFAULT_MIN_SIZE = 800  # the short side Mask R-CNN was trained and evaluated at
BOX_PATTERN = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*$")
Box = tuple[int, int, int, int]


class SegmenterLoadError(PseudocolorError):
    """A Mask R-CNN weights file that cannot be used; the message names it and where to get a good one."""


class RegionFallbackWarning(UserWarning):
    """No instance was found where one was asked for; the region fell back (box rectangle or none)."""


@dataclass(frozen=True)
class Detections:
    """Instances found in one image, most confident first.

    Attributes:
        masks: (N, H, W) bool, on the input image's device (as are the other tensors).
        boxes: (N, 4) float (x0, y0, x1, y1) detected boxes in pixels of the image.
        scores: (N,) float in [0, 1]; nan for a box rectangle used because nothing was detected.
        labels: N COCO category names ("box" for that rectangle).
        score_threshold: the score the instances reached, in [0, 1].
    """

    masks: torch.Tensor
    boxes: torch.Tensor
    scores: torch.Tensor
    labels: list[str]
    score_threshold: float

    def in_box(self, box: Box) -> Detections:
        """The one instance whose box has the highest IoU with `box` (x0, y0, x1, y1), its mask cut to the box;
        when no instance reaches into the box, the box rectangle itself, with a RegionFallbackWarning."""
        size, device = tuple(self.masks.shape[-2:]), self.masks.device
        check_box(box, size)
        masks = self.masks & box_mask(box, size, device)
        given = torch.tensor([box], dtype=torch.float32, device=device)
        overlap = box_iou(self.boxes, given)[:, 0]
        overlap[~masks.flatten(1).any(dim=1)] = 0
        if not overlap.numel() or overlap.max() == 0:
            warnings.warn(
                f"no instance scoring {self.score_threshold} or more inside box {','.join(map(str, box))}; "
                "colouring the whole box rectangle",
                RegionFallbackWarning,
                stacklevel=2,
            )
            nan = torch.tensor([float("nan")], device=device)
            return Detections(box_mask(box, size, device)[None], given, nan, ["box"], self.score_threshold)
        best = slice(int(overlap.argmax()), int(overlap.argmax()) + 1)  # keeps the N axis
        return Detections(masks[best], self.boxes[best], self.scores[best], self.labels[best], self.score_threshold)

    def largest(self) -> int | None:
        """Index of the instance with the most pixels (the more confident on a tie), None when there is none."""
        areas = self.masks.flatten(1).sum(dim=1)
        if not self.labels or areas.max() == 0:
            return None
        return int(areas.argmax())  # argmax takes the first, most confident, maximum


def parse_box(text: str) -> Box:
    """'X0,Y0,X1,Y1' (pixels, x1 and y1 exclusive) -> (x0, y0, x1, y1); raises ValueError if malformed or empty."""
    match = BOX_PATTERN.match(text)
    if match is None:
        raise PseudocolorError(f"box {text!r} is not X0,Y0,X1,Y1 (left, top, right, bottom in pixels), e.g. 40,30,200,180")
    x0, y0, x1, y1 = map(int, match.groups())
    if x1 <= x0 or y1 <= y0:
        raise PseudocolorError(f"box {text!r} is empty: it needs X1 > X0 and Y1 > Y0")
    return x0, y0, x1, y1


def check_box(box: Box, image_size: tuple[int, int]) -> None:
    """Raise ValueError unless `box` is non-empty and inside an `image_size` (H, W) image."""
    height, width = image_size
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise PseudocolorError(f"box {x0},{y0},{x1},{y1} is empty or not inside the {width}x{height} image")


def box_mask(box: Box, image_size: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
    """(x0, y0, x1, y1) -> (H, W) bool, True inside the box."""
    x0, y0, x1, y1 = box
    mask = torch.zeros(image_size, dtype=torch.bool, device=device)
    mask[y0:y1, x0:x1] = True
    return mask


class InstanceSegmenter(nn.Module):
    """torchvision's Mask R-CNN (ResNet-50 FPN, 91 COCO classes) for finding regions to colour.

    Args:
        model: a torchvision MaskRCNN holding trained weights (see `load`).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @classmethod
    def load(
        cls, path: str | Path, device: str | torch.device = "cpu", min_size: int = DEFAULT_MIN_SIZE
    ) -> InstanceSegmenter:
        """Read a torchvision Mask R-CNN COCO state dict (v1 or v2, told apart by its keys) from `path`.

        `min_size` is the short side the detector resizes images to (long side at most 5/3 of it):
        smaller is faster and misses small objects. Raises SegmenterLoadError naming the file.
        """
        path = Path(path)
        if not path.is_file():
            raise SegmenterLoadError(f"{path}: Mask R-CNN weights file not found; {WEIGHTS_REMEDY}")
        try:
            state = torch.load(path, map_location=device, weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unpickling failure means "not a state dict"
            raise SegmenterLoadError(
                f"{path}: cannot be read as a tensor state dict ({type(error).__name__}); {WEIGHTS_REMEDY}"
            ) from error
        if not isinstance(state, dict):
            raise SegmenterLoadError(f"{path} is not a torchvision Mask R-CNN state dict; {WEIGHTS_REMEDY}")
        builder = maskrcnn_resnet50_fpn if V1_KEY in state else maskrcnn_resnet50_fpn_v2
        model = builder(
            weights=None, weights_backbone=None, num_classes=len(COCO_LABELS),
            min_size=min_size, max_size=min_size * 5 // 3,
        )
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            raise SegmenterLoadError(
                f"{path} is not a torchvision Mask R-CNN state dict (its keys or shapes differ); {WEIGHTS_REMEDY}"
            ) from error
        return cls(model.to(device))

    @torch.inference_mode()
    def _detect(self, image: torch.Tensor, score_threshold: float, max_regions: int) -> dict[str, torch.Tensor]:
        self.model.roi_heads.score_thresh = score_threshold
        self.model.roi_heads.detections_per_img = max_regions
        image = image.to(self.device)
        image = image.float() / 255 if image.dtype == torch.uint8 else image.float()
        return self.model([image.expand(3, -1, -1)])[0]

    def masks(
        self, image: torch.Tensor, box: Box | None = None, score_threshold: float = 0.5, max_regions: int = 100
    ) -> Detections:
        """Instances in `image` (3 or 1, H, W), float in [0, 1] or uint8, scoring `score_threshold` in [0, 1] or more.

        Without `box`: up to `max_regions` masks, most confident first. With `box` (x0, y0, x1, y1): one
        mask, the detected instance whose box has the highest IoU with it, cut to the box; when no
        instance reaches into the box, the box rectangle itself, with a RegionFallbackWarning.
        Runs on the segmenter's device; the masks come back on the image's.
        """
        if image.ndim != 3 or image.shape[0] not in (1, 3):
            raise ValueError(f"image must have shape (3, H, W) or (1, H, W), got {tuple(image.shape)}")
        if not 0 <= score_threshold <= 1:
            raise PseudocolorError(f"score_threshold must be in [0, 1], got {score_threshold}")
        if box is not None:
            check_box(box, tuple(image.shape[-2:]))
        # Inference tensors cannot be changed in place outside inference mode: work on normal copies.
        found = {key: value.clone().to(image.device) for key, value in self._detect(image, score_threshold, max_regions).items()}
        labels = [COCO_LABELS[i] for i in found["labels"].tolist()]
        detections = Detections(found["masks"][:, 0] > MASK_THRESHOLD, found["boxes"], found["scores"], labels, score_threshold)
        return detections if box is None else detections.in_box(box)


def box_regions(found: Detections, boxes: Sequence[tuple[Box, torch.Tensor]]) -> list[Region]:
    """(box, (3, h, w) reference) pairs -> one Region per box from the instances `found` in the image: the
    instance in the box, else the box rectangle (see `Detections.in_box`)."""
    regions = []
    for box, reference in boxes:
        selected = found.in_box(box)
        regions.append(Region(selected.masks[0], reference, name=f"box {','.join(map(str, box))} ({selected.labels[0]})"))
    return regions


def largest_region(found: Detections, reference: torch.Tensor) -> Region | None:
    """The largest of the instances `found` as a Region coloured from `reference` (3, h, w); None, with a
    RegionFallbackWarning, when there is none."""
    largest = found.largest()
    if largest is None:
        warnings.warn(
            f"no instance scoring {found.score_threshold} or more was detected; colouring automatically",
            RegionFallbackWarning,
            stacklevel=2,
        )
        return None
    return Region(found.masks[largest], reference, name=f"auto region ({found.labels[largest]})")


def regions_from_boxes(
    segmenter: InstanceSegmenter,
    image: torch.Tensor,
    boxes: Sequence[tuple[Box, torch.Tensor]],
    score_threshold: float = 0.5,
) -> list[Region]:
    """Detect once in `image`, then one Region per (box, reference) pair (see `box_regions`)."""
    return box_regions(segmenter.masks(image, score_threshold=score_threshold), boxes)


def auto_region(
    segmenter: InstanceSegmenter, image: torch.Tensor, reference: torch.Tensor, score_threshold: float = 0.5
) -> Region | None:
    """The largest instance detected in `image` (most pixels; the more confident on a tie) as a Region coloured
    from `reference` (3, h, w); None, with a RegionFallbackWarning, when nothing scores `score_threshold`."""
    return largest_region(segmenter.masks(image, score_threshold=score_threshold), reference)
