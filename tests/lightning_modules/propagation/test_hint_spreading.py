"""Point hints spread along lightness edges: reach across flat areas, stop at edges, nothing without hints."""

import pytest
import torch

from pseudocolor.lightning_modules.ab_encoding import AB_SCALE
from pseudocolor.lightning_modules.guided.hints import encode_ab_hints
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.networks.residual_caffenet import ResidualCaffeNet
from pseudocolor.lightning_modules.propagation.hint_spreading import spread_hints

SIZE = 64  # the network-side image; ab is predicted at SIZE / 4


def one_hint(x: int, y: int, ab: tuple[float, float], batch: int = 1) -> torch.Tensor:
    """(batch, 3, SIZE, SIZE) hint map with one one-pixel hint of colour `ab` (Lab units) at (x, y)."""
    points = torch.tensor([[[x, y]]]).expand(batch, 1, 2)
    return encode_ab_hints(points, torch.tensor([[ab]]).expand(batch, 1, 2), SIZE, SIZE)


def test_without_hints_the_prediction_is_returned_unchanged():
    ab = torch.randn(2, 2, SIZE // 4, SIZE // 4) * 20
    out = spread_hints(ab, torch.full((2, 1, SIZE, SIZE), 50.0), torch.zeros(2, 3, SIZE, SIZE))
    assert torch.equal(out, ab)


def test_a_hint_on_a_flat_image_colours_the_whole_image():
    ab = torch.zeros(1, 2, SIZE // 4, SIZE // 4)
    out = spread_hints(ab, torch.full((1, 1, SIZE, SIZE), 50.0), one_hint(5, 5, (40.0, -30.0)))
    share = out / torch.tensor([40.0, -30.0])[None, :, None, None]
    assert share.min() > 0.9 and share.max() < 1.0  # every one of the 16 x 16 cells takes >= 90 % of the hint


def test_a_hint_stops_at_a_lightness_edge_and_keeps_the_prediction_beyond():
    l = torch.full((1, 1, SIZE, SIZE), 30.0)
    l[..., SIZE // 2 :] = 70.0  # dark left half, light right half
    ab = torch.full((1, 2, SIZE // 4, SIZE // 4), 10.0)
    out = spread_hints(ab, l, one_hint(3, 30, (60.0, 60.0)))
    left, right = out[..., : SIZE // 8], out[..., SIZE // 8 :]
    assert (left - 60).abs().max() < 2.0
    assert (right - 10).abs().max() < 0.01


def test_hints_of_each_image_stay_in_that_image():
    ab = torch.zeros(2, 2, SIZE // 4, SIZE // 4)
    hints = one_hint(5, 5, (40.0, 40.0), batch=2)
    hints[1] = 0  # the second image has no hint
    out = spread_hints(ab, torch.full((2, 1, SIZE, SIZE), 50.0), hints)
    assert out[0].abs().min() > 35 and torch.equal(out[1], ab[1])


def test_a_smaller_decay_reaches_further():
    ab = torch.zeros(1, 2, SIZE // 4, SIZE // 4)
    l, hints = torch.full((1, 1, SIZE, SIZE), 50.0), one_hint(0, 0, (50.0, 0.0))
    far = [spread_hints(ab, l, hints, decay=decay)[0, 0, -1, -1].item() for decay in (0.1, 0.001)]
    assert far[0] < 5 < 30 < far[1]


@pytest.mark.parametrize(
    "ab_shape, l_shape, hint_shape, message",
    [
        ((1, 3, 16, 16), (1, 1, 64, 64), (1, 3, 64, 64), "ab must have shape"),
        ((1, 2, 16, 16), (1, 1, 64, 64), (1, 3, 32, 32), "must match"),
    ],
)
def test_shapes_are_checked(ab_shape, l_shape, hint_shape, message):
    with pytest.raises(ValueError, match=message):
        spread_hints(torch.zeros(ab_shape), torch.zeros(l_shape), torch.zeros(hint_shape))


def test_the_colorizer_spreads_point_hints_unless_told_not_to():
    torch.manual_seed(0)
    colorizer = Colorizer(ResidualCaffeNet(width_multiplier=0.25), size=SIZE)
    l = torch.full((1, 1, SIZE, SIZE), 60.0)
    hints = one_hint(8, 8, (0.5 * AB_SCALE, 0.0))
    spread = colorizer.colorize_l(l, hints)
    colorizer.spread_hints = False
    alone = colorizer.colorize_l(l, hints)
    far_corner = (slice(None), slice(None), slice(-8, None), slice(-8, None))
    assert (spread[far_corner] - alone[far_corner]).abs().mean() > 0.05  # a flat photo: the hint reaches the corner
