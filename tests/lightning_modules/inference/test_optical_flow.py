"""Pyramidal Lucas-Kanade: known shifts of a textured picture are found, warping follows the flow convention, and
flows resize with their grid."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pseudocolor.datamodules.color_space import rgb_to_lab
from pseudocolor.datamodules.decoding import decode_image
from pseudocolor.datamodules.sample_photos import SAMPLES_DIR
from pseudocolor.lightning_modules.inference.optical_flow import estimate_flow, resize_flow, sample_grid, warp


def photo_l() -> torch.Tensor:
    """(1, 1, 256, 384) L of a bundled photo."""
    return rgb_to_lab(decode_image(SAMPLES_DIR / "kodim05.jpg").float()[None] / 255)[:, :1]


def shifted_pair(dx: float, dy: float, side: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Two (1, 1, side, side) views of the photo, the second's window moved by (dx, dy) pixels of the view."""
    l = photo_l()
    scale = 160 / side  # photo px per view px
    ys = (torch.arange(side) + 0.5) * scale + 40
    xs = (torch.arange(side) + 0.5) * scale + 100

    def view(offset_x: float, offset_y: float) -> torch.Tensor:
        gx, gy = torch.meshgrid(
            (xs + offset_x * scale) / 384 * 2 - 1, (ys + offset_y * scale) / 256 * 2 - 1, indexing="xy"
        )
        return F.grid_sample(l, torch.stack([gx, gy], -1)[None], mode="bilinear", align_corners=False)

    return view(0, 0), view(dx, dy)


@pytest.mark.parametrize("dx, dy", [(0.0, 0.0), (1.5, -0.7), (-4.0, 2.5), (9.0, 5.0)])
def test_a_shifted_view_gives_its_shift(dx, dy):
    previous, current = shifted_pair(dx, dy)

    flow = estimate_flow(previous, current)

    inner = flow[0, :, 12:-12, 12:-12].flatten(1)
    assert inner.median(dim=1).values.tolist() == pytest.approx([dx, dy], abs=0.15)
    assert (inner - torch.tensor([[dx], [dy]])).norm(dim=0).mean() < 0.3


def test_warping_along_the_estimated_flow_explains_the_current_frame():
    previous, current = shifted_pair(3.0, 2.0)

    flow = estimate_flow(previous, current)

    before = (previous - current)[..., 8:-8, 8:-8].abs().mean()
    after = (warp(previous, flow) - current)[..., 8:-8, 8:-8].abs().mean()
    assert after < before / 3


def test_warp_by_whole_pixels_moves_content_and_marks_what_comes_from_outside():
    image = torch.arange(5 * 6, dtype=torch.float32).reshape(1, 1, 5, 6)
    flow = torch.zeros(1, 2, 5, 6)
    flow[:, 0] = 2  # each pixel shows what was 2 px to its right

    moved = warp(image, flow)
    _, inside = sample_grid(flow)

    assert torch.equal(moved[..., :4], image[..., 2:])
    assert inside[0, 0, :, :4].all() and not inside[0, 0, :, 5].any()


def test_resized_flows_scale_with_their_grid():
    flow = torch.stack([torch.full((8, 12), 3.0), torch.full((8, 12), -1.0)])[None]

    half = resize_flow(flow, (4, 6))
    double = resize_flow(flow, (16, 24))

    assert torch.allclose(half, flow[..., ::2, ::2] / 2)
    assert torch.allclose(double[:, 0], torch.full((1, 16, 24), 6.0))


def test_a_batch_of_pairs_gives_each_pair_its_own_flow():
    pairs = [shifted_pair(2.0, 0.0), shifted_pair(0.0, -3.0)]

    flow = estimate_flow(torch.cat([p for p, _ in pairs]), torch.cat([c for _, c in pairs]))

    medians = flow[:, :, 12:-12, 12:-12].flatten(2).median(dim=2).values
    assert medians.tolist() == [pytest.approx([2.0, 0.0], abs=0.15), pytest.approx([0.0, -3.0], abs=0.15)]


@pytest.mark.parametrize(
    "previous, current",
    [(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16)), (torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 8))],
)
def test_inputs_of_the_wrong_shape_are_named(previous, current):
    with pytest.raises(ValueError, match=r"must have (shape \(B, 1, H, W\)|one shape)"):
        estimate_flow(previous, current)
