"""The simulated references that evaluation and benchmarks share, so that a colour transfer cannot score by
copying a photo's own colours at the same positions.

- Whole-photo reference: the photo mirrored left-right and shrunk to REFERENCE_SCALE (`mirrored_reference`):
  the same colours, at other positions and another scale.
- Centre region: the middle half of each side (`centre_mask`), coloured either from that mirrored reference or
  from the rest of its own photo, the region made transparent (`rest_reference`).
- The automatic background is compared only beyond EDGE_MARGIN px of the region's edge (`far_outside`), where a
  seamless blend has no business changing colours.

Photos are RGB (3, H, W) float in [0, 1]; masks are (H, W) bool.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pseudocolor.lightning_modules.propagation.fusion import grow_mask

REFERENCE_SCALE = 0.75  # the mirrored reference's side over the photo's
EDGE_MARGIN = 32  # px: the background is compared with automatic colouring this far from a region's edge


def centre_mask(height: int, width: int) -> torch.Tensor:
    """(height, width) bool, True on the middle half of each side: rows H//4 : 3H//4, columns W//4 : 3W//4."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = True
    return mask


def mirrored_reference(rgb: torch.Tensor) -> torch.Tensor:
    """(3, H, W) RGB in [0, 1] -> (3, round(0.75 H), round(0.75 W)) RGB in [0, 1]: the photo flipped left-right
    and shrunk to REFERENCE_SCALE with antialiased bilinear interpolation."""
    if rgb.ndim != 3 or rgb.shape[0] != 3:
        raise ValueError(f"rgb must have shape (3, H, W), got {tuple(rgb.shape)}")
    size = (round(rgb.shape[-2] * REFERENCE_SCALE), round(rgb.shape[-1] * REFERENCE_SCALE))
    shrunk = F.interpolate(rgb.float().flip(-1)[None], size=size, mode="bilinear", align_corners=False, antialias=True)
    return shrunk[0].clamp(0, 1)


def rest_reference(rgb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(3, H, W) RGB in [0, 1] and (H, W) bool mask -> (4, H, W) RGBA in [0, 1]: the photo with alpha 0 inside
    the mask (those pixels never give colour) and 1 elsewhere."""
    if rgb.ndim != 3 or rgb.shape[0] != 3 or tuple(mask.shape) != tuple(rgb.shape[-2:]):
        raise ValueError(f"rgb (3, H, W) and mask (H, W) must agree, got {tuple(rgb.shape)} and {tuple(mask.shape)}")
    alpha = (~mask.to(rgb.device, torch.bool)).to(torch.float32)[None]
    return torch.cat([rgb.float(), alpha])


def far_outside(mask: torch.Tensor, margin: int = EDGE_MARGIN) -> torch.Tensor:
    """(H, W) bool mask -> (H, W) bool, the pixels more than `margin` px (chessboard distance) outside it."""
    return ~grow_mask(mask, margin)
