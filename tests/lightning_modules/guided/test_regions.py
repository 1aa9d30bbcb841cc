import pytest
import torch
from torch import nn

from pseudocolor.datamodules.color_space import rgb_to_lab
from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.lightning_modules.ab_encoding import gamut_ab_bins
from pseudocolor.lightning_modules.guided.regions import (
    REFERENCE_MODES,
    Region,
    colorize_with_regions,
    prepare_reference,
    reference_hint,
)
from pseudocolor.lightning_modules.inference.colorizer import Colorizer

SIZE = 64
RED, BLUE = torch.tensor([0.7, 0.35, 0.3]), torch.tensor([0.3, 0.4, 0.65])  # in gamut at the test L


class HistogramEcho(nn.Module):
    """Stand-in network (no forward_features: transfer matches on lightness alone): every pixel gets the most
    frequent bin of its global hint, grey without one;
    it records the local hints it was given."""

    takes_hints = True

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("ab_bins", gamut_ab_bins())
        self.unused = nn.Parameter(torch.zeros(1))
        self.local_hints = None

    def forward(self, l, local_hints=None, global_hint=None):
        self.local_hints = local_hints
        grey = self.ab_bins.norm(dim=1).argmin()
        if global_hint is None:  # reference transfer gives none
            global_hint = torch.zeros(l.shape[0], self.ab_bins.shape[0] + 1)
        has_hint = global_hint[:, :-1].sum(dim=1) > 0
        target = torch.where(has_hint, global_hint[:, :-1].argmax(dim=1), grey)
        logits = torch.full((l.shape[0], self.ab_bins.shape[0], -(-l.shape[2] // 4), -(-l.shape[3] // 4)), -1e4)
        logits[torch.arange(l.shape[0]), target] = 0.0
        return logits


def _flat(colour: torch.Tensor, height: int = 40, width: int = 40) -> torch.Tensor:
    return colour[:, None, None].expand(3, height, width).clone()


def _ab(rgb: torch.Tensor) -> torch.Tensor:
    return rgb_to_lab(rgb[None])[0, 1:]


@pytest.fixture()
def colorizer() -> Colorizer:
    return Colorizer(HistogramEcho(), size=SIZE)


@pytest.fixture()
def image() -> torch.Tensor:
    y = torch.linspace(0.4, 0.6, 96)[:, None].expand(96, 128)
    return y[None].expand(3, -1, -1).clone()  # a grey vertical ramp


def _square(top: int, left: int, side: int) -> torch.Tensor:
    mask = torch.zeros(96, 128, dtype=torch.bool)
    mask[top : top + side, left : left + side] = True
    return mask


def _expected_ab(colour: torch.Tensor, mode: str = "histogram") -> torch.Tensor:
    """A flat reference's colour as each mode gives it: the echo network's most frequent histogram bin, or the
    reference's own ab when transferred."""
    if mode == "transfer":
        return _ab(_flat(colour)).mean(dim=(1, 2))
    hint = reference_hint(prepare_reference(_flat(colour)), gamut_ab_bins())
    return gamut_ab_bins()[hint[0, :-1].argmax()]


@pytest.mark.parametrize("mode", REFERENCE_MODES)
def test_region_keeps_its_reference_colour_and_the_background_stays_automatic(colorizer, image, mode):
    mask = _square(20, 30, 60)
    result = colorize_with_regions(colorizer, image, [Region(mask, _flat(RED))], edge_width=8, reference_mode=mode)
    assert result.shape == image.shape and result.min() >= 0 and result.max() <= 1
    ab = _ab(result)
    torch.testing.assert_close(ab[:, 45:55, 55:65].mean(dim=(1, 2)), _expected_ab(RED, mode), atol=1.5, rtol=0)
    assert ab[:, ~_square(10, 20, 80)].abs().max() < 1.0  # background: grey like the automatic colouring
    torch.testing.assert_close(rgb_to_lab(result[None])[0, 0], rgb_to_lab(image[None])[0, 0], atol=0.05, rtol=0)


def test_seam_is_spread_over_the_edge_band(colorizer, image):
    mask = _square(20, 30, 60)
    poisson = _ab(colorize_with_regions(colorizer, image, [Region(mask, _flat(RED))], edge_width=16))
    pasted = _ab(colorize_with_regions(colorizer, image, [Region(mask, _flat(RED))], blend="feather", edge_width=0))
    assert (pasted[:, 50, 30] - pasted[:, 50, 29]).abs().max() > 30  # a hard edge
    assert (poisson[:, 50, 1:] - poisson[:, 50, :-1]).abs().max() < 8  # about 60 ab units over 16 pixels


def test_classic_poisson_keeps_only_gradients_so_a_flat_reference_colour_is_lost(colorizer, image):
    result = colorize_with_regions(colorizer, image, [Region(_square(20, 30, 60), _flat(RED))], edge_width=None)
    assert _ab(result)[:, 45:55, 55:65].norm(dim=0).max() < 0.1 * _expected_ab(RED).norm()


@pytest.mark.parametrize("mode", REFERENCE_MODES)
def test_later_regions_win_where_masks_overlap(colorizer, image, mode):
    regions = [Region(_square(10, 10, 60), _flat(RED)), Region(_square(30, 40, 60), _flat(BLUE))]
    ab = _ab(colorize_with_regions(colorizer, image, regions, edge_width=8, reference_mode=mode))
    torch.testing.assert_close(ab[:, 50:60, 50:60].mean(dim=(1, 2)), _expected_ab(BLUE, mode), atol=1.5, rtol=0)
    torch.testing.assert_close(ab[:, 20:25, 20:25].mean(dim=(1, 2)), _expected_ab(RED, mode), atol=1.5, rtol=0)


@pytest.mark.parametrize("mode", REFERENCE_MODES)
def test_reference_mask_selects_the_colours_taken(colorizer, image, mode):
    reference = torch.cat([_flat(RED, 40, 20), _flat(BLUE, 40, 20)], dim=2)
    reference_mask = torch.zeros(40, 40, dtype=torch.bool)
    reference_mask[:, 20:] = True
    region = Region(_square(20, 30, 60), reference, reference_mask)
    ab = _ab(colorize_with_regions(colorizer, image, [region], edge_width=8, reference_mode=mode))
    torch.testing.assert_close(ab[:, 45:55, 55:65].mean(dim=(1, 2)), _expected_ab(BLUE, mode), atol=1.5, rtol=0)


@pytest.mark.parametrize("mode", REFERENCE_MODES)
def test_transparent_reference_pixels_give_no_colour(colorizer, image, mode):
    """An RGBA reference: the red half is transparent (alpha 0), so only the blue half counts."""
    reference = torch.cat([_flat(RED, 40, 20), _flat(BLUE, 40, 20)], dim=2)
    alpha = torch.ones(1, 40, 40)
    alpha[:, :, :20] = 0
    region = Region(_square(20, 30, 60), torch.cat([reference, alpha]))
    ab = _ab(colorize_with_regions(colorizer, image, [region], edge_width=8, reference_mode=mode))
    torch.testing.assert_close(ab[:, 45:55, 55:65].mean(dim=(1, 2)), _expected_ab(BLUE, mode), atol=1.5, rtol=0)


@pytest.mark.parametrize("mode", REFERENCE_MODES)
def test_whole_image_reference_grey_and_uint8_inputs(colorizer, image, mode):
    grey = (image[:1] * 255).round().to(torch.uint8)
    result = colorize_with_regions(colorizer, grey, reference=_flat(BLUE), reference_mode=mode)
    torch.testing.assert_close(_ab(result).mean(dim=(1, 2)), _expected_ab(BLUE, mode), atol=2.0, rtol=0)


def test_point_hints_reach_the_network_at_its_size(colorizer, image):
    colorize_with_regions(colorizer, image, hints=[((127, 0), (1.0, 0.0, 0.0))])
    mask = colorizer.network.local_hints[0, 2]
    assert mask.shape == (SIZE, SIZE) and mask.nonzero().tolist() == [[0, SIZE - 1]]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"regions": [Region(torch.ones(10, 10, dtype=torch.bool), _flat(RED), name="sky.png")]}, r"sky.png must have shape \(H, W\) = \(96, 128\)"),
        ({"regions": [Region(torch.zeros(96, 128, dtype=torch.bool), _flat(RED))]}, "mask of region 0 is empty"),
        ({"regions": [Region(_square(0, 0, 9), _flat(RED), torch.ones(3, 3, dtype=torch.bool))]}, "region 0's reference mask must have shape"),
        ({"hints": [((500, 4), (1.0, 0.0, 0.0))]}, "hint at x=500, y=4 lies outside the 128x96 image"),
        ({"reference": torch.zeros(2, 8, 8)}, r"reference must have shape \(3, H, W\) or \(4, H, W\)"),
        ({"reference": _flat(RED, 7, 30)}, "reference is 30x7 px, too small to take colours from"),
        ({"reference": _flat(torch.tensor([0.5, 0.5, 0.5]))}, "reference is grey and has no colour to give"),
        ({"reference": torch.cat([_flat(RED), torch.zeros(1, 40, 40)])}, "reference: its mask and transparency leave no pixel"),
        ({"regions": [Region(_square(0, 0, 9), _flat(RED), torch.zeros(40, 40, dtype=torch.bool), "cap.png")]}, "cap.png's reference mask is empty"),
        ({"reference": _flat(RED), "reference_mode": "copy"}, "reference mode must be one of transfer, histogram"),
    ],
)
def test_clear_errors(colorizer, image, kwargs, match):
    with pytest.raises((ValueError, PseudocolorError), match=match):
        colorize_with_regions(colorizer, image, **kwargs)


def test_a_vivid_region_over_dark_and_bright_parts_keeps_the_image_lightness(colorizer):
    """A saturated red over L from 5 to 95 leaves the sRGB gamut at both ends: chroma gives way, L does not
    (per-channel clipping changed L by several units there)."""
    ramp = torch.linspace(0.02, 0.98, 128)[None, :].expand(96, 128)
    image = ramp[None].expand(3, -1, -1).clone()
    vivid = torch.tensor([0.95, 0.05, 0.05])
    result = colorize_with_regions(colorizer, image, [Region(_square(10, 0, 80) | _square(10, 48, 80), _flat(vivid))])
    difference = (rgb_to_lab(result[None])[0, 0] - rgb_to_lab(image[None])[0, 0]).abs()
    assert difference.max() < 0.05
    assert _ab(result)[:, 40:60, 60:70].norm(dim=0).mean() > 30  # the region did take a strong colour
