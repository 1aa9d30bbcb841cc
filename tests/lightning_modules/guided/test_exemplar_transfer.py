import pytest
import torch
import torch.nn.functional as F

from pseudocolor.datamodules.color_space import ab_to_rgb, rgb_to_lab, to_uint8
from pseudocolor.datamodules.decoding import decode_image
from pseudocolor.datamodules.sample_photos import SAMPLES_DIR
from pseudocolor.lightning_modules.guided import exemplar_transfer
from pseudocolor.lightning_modules.guided.exemplar_transfer import CELL, transfer_ab
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.prediction import predict_ab

RED, BLUE = (60.0, 30.0), (-10.0, -45.0)
OUTRAGEOUS = 100.0  # an ab value no valid reference pixel has
HEIGHT, WIDTH = 64, 128


def _stripes(height: int, width: int) -> torch.Tensor:
    """(height, width) L: 50 +- 25 vertical stripes 2 px wide, a texture at every window size."""
    x = torch.arange(width)
    return (50 + 25 * ((x // 2) % 2 * 2 - 1).float())[None].expand(height, -1)


def _lab(l: torch.Tensor, ab: tuple[float, float]) -> torch.Tensor:
    """(H, W) L and one ab -> (3, H, W) Lab."""
    return torch.cat([l[None], torch.tensor(ab)[:, None, None].expand(2, *l.shape)])


def _half_textured_target() -> torch.Tensor:
    """(1, 1, HEIGHT, WIDTH): striped left half, flat right half."""
    l = torch.full((HEIGHT, WIDTH), 50.0)
    l[:, : WIDTH // 2] = _stripes(HEIGHT, WIDTH // 2)
    return l[None, None]


def _swapped_reference() -> torch.Tensor:
    """(1, 3, HEIGHT, WIDTH): flat blue left, striped red right, lightness squeezed (0.5 L + 30)."""
    flat = _lab(torch.full((HEIGHT, WIDTH // 2), 50.0), BLUE)
    striped = _lab(_stripes(HEIGHT, WIDTH // 2), RED)
    lab = torch.cat([flat, striped], dim=2)[None]
    lab[:, :1] = 0.5 * lab[:, :1] + 30
    return lab


def _cell_ab(ab: torch.Tensor, columns: slice) -> torch.Tensor:
    """(1, 2, h, w) ab -> (2,) mean over the given cell columns."""
    return ab[0, :, :, columns].mean(dim=(1, 2))


def test_shapes_ranges_and_fallback_kept():
    target = _half_textured_target().expand(2, -1, -1, -1)
    auto_ab = torch.randn(2, 2, HEIGHT // CELL, WIDTH // CELL)
    result = transfer_ab(target, _swapped_reference(), auto_ab=auto_ab)
    assert result.ab.shape == auto_ab.shape
    assert result.confidence.shape == (2, 1, HEIGHT // CELL, WIDTH // CELL)
    assert result.confidence.min() >= 0 and result.confidence.max() <= 1
    assert torch.equal(result.auto_ab, auto_ab)
    assert set(result.timings) == {"reference", "descriptors", "matching", "spreading"}


def test_colours_follow_texture_not_position_nor_lightness_level():
    result = transfer_ab(_half_textured_target(), _swapped_reference(), auto_ab=torch.zeros(1, 2, 16, 32))
    striped, flat = _cell_ab(result.ab, slice(0, 12)), _cell_ab(result.ab, slice(20, 32))
    assert torch.allclose(striped, torch.tensor(RED), atol=8), striped
    assert torch.allclose(flat, torch.tensor(BLUE), atol=8), flat
    assert result.confidence[..., :12].mean() > 0.8 and result.confidence[..., 20:].mean() > 0.8


def test_batch_equals_single_photos():
    dark = _half_textured_target() * 0.6
    target = torch.cat([_half_textured_target(), dark])
    auto_ab = torch.randn(2, 2, 16, 32)
    batched = transfer_ab(target, _swapped_reference(), auto_ab=auto_ab)
    for i in range(2):
        single = transfer_ab(target[i : i + 1], _swapped_reference(), auto_ab=auto_ab[i : i + 1])
        assert torch.allclose(batched.ab[i], single.ab[0], atol=1e-3)


def test_invalid_reference_pixels_never_give_colour():
    reference = _swapped_reference()
    valid = torch.ones(reference.shape[-2:], dtype=torch.bool)
    valid[5:59, 69:121] = False  # most of the red stripes, off the cell grid: they would match the striped half best
    reference[:, 1:, ~valid] = OUTRAGEOUS
    result = transfer_ab(_half_textured_target(), reference, valid, auto_ab=torch.zeros(1, 2, 16, 32))
    assert result.ab.max() <= max(*RED, *BLUE) + 1e-3


def test_reference_without_valid_pixels_returns_fallback():
    auto_ab = torch.randn(1, 2, 16, 32)
    valid = torch.zeros(HEIGHT, WIDTH, dtype=torch.bool)
    result = transfer_ab(_half_textured_target(), _swapped_reference(), valid, auto_ab=auto_ab)
    assert torch.equal(result.ab, auto_ab)
    assert torch.count_nonzero(result.confidence) == 0


def test_unmatched_area_keeps_fallback():
    """The target's right half is a fine checkerboard, unlike anything in a smooth two-colour reference."""
    l = torch.full((HEIGHT, WIDTH), 50.0)
    y, x = torch.meshgrid(torch.arange(HEIGHT), torch.arange(WIDTH // 2), indexing="ij")
    l[:, WIDTH // 2 :] = torch.where((x // 2 + y // 2) % 2 == 0, 10.0, 95.0)
    reference = torch.cat(
        [_lab(torch.full((64, 64), 50.0), BLUE), _lab(torch.linspace(30, 70, 64)[None].expand(64, 64), RED)], dim=2
    )
    auto_ab = torch.stack(torch.meshgrid(torch.linspace(-20, 20, 16), torch.linspace(0, 30, 32), indexing="ij"))[None]
    result = transfer_ab(l[None, None], reference[None], auto_ab=auto_ab)
    low = result.confidence[0, 0] < 0.1
    assert low[:, 20:].all()
    change = (result.ab - auto_ab).abs().amax(dim=1)[0]
    assert change[low].max() < 0.1 * 80  # |ab - auto| <= confidence * largest |transferred - auto|
    assert change[:, 20:].mean() < 2.0
    assert result.confidence[0, 0, :, :12].mean() > 0.5  # while the flat part takes the flat blue
    assert _cell_ab(result.ab, slice(0, 12))[1] < -20


def test_one_colour_reference_colours_everything():
    reference = _lab(torch.full((32, 32), 40.0), RED)[None]
    result = transfer_ab(_half_textured_target(), reference, auto_ab=torch.zeros(1, 2, 16, 32))
    assert torch.allclose(result.ab.mean(dim=(2, 3))[0], torch.tensor(RED), atol=3)


def test_only_the_wanted_cells_are_matched():
    """Cells left out of target_cells take no colour of their own: the striped half is left out, so the red it would
    match never appears there, while the wanted flat half still turns blue."""
    wanted = torch.zeros(HEIGHT // CELL, WIDTH // CELL, dtype=torch.bool)
    wanted[:, 20:] = True
    auto_ab = torch.zeros(1, 2, HEIGHT // CELL, WIDTH // CELL)
    result = transfer_ab(_half_textured_target(), _swapped_reference(), auto_ab=auto_ab, target_cells=wanted)
    assert torch.allclose(_cell_ab(result.ab, slice(20, 32)), torch.tensor(BLUE), atol=8)
    assert result.ab[0, 0, :, :12].abs().max() < 5  # no red (a* 60): at most blue spread in along the stripes' edges
    assert result.confidence[..., 20:].mean() > 0.8


def test_a_smaller_reference_is_matched_at_its_own_scale():
    """The swapped reference at half the target's size, its stripes half as wide: shrunk to the reference's scale,
    the target shows the same stripes, so its striped half still turns red and its flat half blue, on the target's
    own grid."""
    x = torch.arange(WIDTH // 2)
    target = torch.full((1, 1, HEIGHT, WIDTH), 50.0)
    target[..., : WIDTH // 2] = 50 + 25 * ((x // 4) % 2 * 2 - 1).float()  # stripes 4 px wide
    flat = _lab(torch.full((HEIGHT // 2, WIDTH // 4), 50.0), BLUE)
    striped = _lab(_stripes(HEIGHT // 2, WIDTH // 4), RED)  # stripes 2 px wide
    reference = torch.cat([flat, striped], dim=2)[None]
    result = transfer_ab(target, reference, auto_ab=torch.zeros(1, 2, HEIGHT // CELL, WIDTH // CELL))
    assert result.ab.shape == (1, 2, HEIGHT // CELL, WIDTH // CELL)
    assert torch.allclose(_cell_ab(result.ab, slice(2, 14)), torch.tensor(RED), atol=8)
    assert torch.allclose(_cell_ab(result.ab, slice(18, 30)), torch.tensor(BLUE), atol=8)


def test_bad_shapes_name_the_argument():
    target, reference, auto_ab = _half_textured_target(), _swapped_reference(), torch.zeros(1, 2, 16, 32)
    with pytest.raises(ValueError, match="target_l"):
        transfer_ab(target[0], reference, auto_ab=auto_ab)
    with pytest.raises(ValueError, match="target_l"):
        transfer_ab(target[..., :63, :], reference, auto_ab=auto_ab)
    with pytest.raises(ValueError, match="reference_lab"):
        transfer_ab(target, reference[0], auto_ab=auto_ab)
    with pytest.raises(ValueError, match="reference_valid"):
        transfer_ab(target, reference, torch.ones(HEIGHT, WIDTH - 1, dtype=torch.bool), auto_ab=auto_ab)
    with pytest.raises(ValueError, match="auto_ab"):
        transfer_ab(target, reference, auto_ab=auto_ab[..., :8, :])
    with pytest.raises(ValueError, match="auto_ab or a network"):
        transfer_ab(target, reference)
    with pytest.raises(ValueError, match="target_cells"):
        transfer_ab(target, reference, auto_ab=auto_ab, target_cells=torch.ones(16, 31, dtype=torch.bool))


def _psnr(output: torch.Tensor, truth: torch.Tensor) -> float:
    return (10 * torch.log10(255**2 / (output.float() - truth.float()).square().mean())).item()


@pytest.mark.parametrize("name", ["kodim05.jpg", "kodim23.jpg"])
def test_mirrored_photo_as_reference_beats_automatic_colouring(name):
    colorizer = Colorizer.load("pretrained")
    rgb = F.interpolate(decode_image(SAMPLES_DIR / name)[None].float() / 255, size=(256, 256), mode="area")
    lab = rgb_to_lab(rgb)
    reference = F.interpolate(lab.flip(-1), size=(192, 192), mode="area")
    result = transfer_ab(lab[:, :1], reference, network=colorizer.network, temperature=colorizer.temperature)
    with torch.no_grad():
        auto_ab = predict_ab(colorizer.network, lab[:, :1], temperature=colorizer.temperature)
    assert torch.allclose(result.auto_ab, auto_ab, atol=1e-4)
    truth = to_uint8(rgb)
    gain = _psnr(to_uint8(ab_to_rgb(lab[:, :1], result.ab)), truth) - _psnr(
        to_uint8(ab_to_rgb(lab[:, :1], auto_ab)), truth
    )
    assert gain > 3.0


def _halves_of_region(reference: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A flat (L 50) target coloured from `reference` -> the (2,) mean ab of the region's top and bottom halves
    (cells rows 4-7 and 8-11, columns 8-23: pixels 16-48 x 32-96, where `valid` is False)."""
    target = torch.full((1, 1, HEIGHT, WIDTH), 50.0)
    result = transfer_ab(target, reference, valid, auto_ab=torch.zeros(1, 2, HEIGHT // CELL, WIDTH // CELL))
    return result.ab[0, :, 4:8, 8:24].mean(dim=(1, 2)), result.ab[0, :, 8:12, 8:24].mean(dim=(1, 2))


def test_a_region_coloured_from_the_rest_of_its_own_photo_takes_the_colours_nearby():
    """Flat lightness: nothing but position tells cells apart. The photo is red above and blue below, its centre cut
    away. From the rest of its own photo the region's top takes the red above it and its bottom the blue below; from
    another picture with the same colours (its L differs) position means nothing, and both halves get one colour."""
    flat = torch.full((HEIGHT // 2, WIDTH), 50.0)
    reference = torch.cat([_lab(flat, RED), _lab(flat, BLUE)], dim=1)[None]
    valid = torch.ones(HEIGHT, WIDTH, dtype=torch.bool)
    valid[16:48, 32:96] = False
    top, bottom = _halves_of_region(reference, valid)
    assert top[0] > bottom[0] + 25 and top[1] > bottom[1] + 25, (top, bottom)  # RED above, BLUE below

    other = reference.clone()
    other[:, 0] = 70.0  # the same colours under other lightness: not the target's photo
    top, bottom = _halves_of_region(other, valid)
    assert torch.allclose(top, bottom, atol=1.0), (top, bottom)


def test_own_photo_lightness_statistics_weigh_less_and_positions_join():
    """For a target whose reference is its own photo, the lightness statistics are scaled by
    own_photo_lightness_weight and the cells' positions appended; for a target of another photo the descriptors are
    as they were, with zero positions."""
    settings = exemplar_transfer.TransferSettings()
    own = _half_textured_target()
    other = own.flip(-1)  # another photo: its L differs from the reference's where the reference is valid
    target = torch.randn(2, 32 * 16, 9, generator=torch.Generator().manual_seed(0))
    reference = torch.randn(2, 32 * 16, 9, generator=torch.Generator().manual_seed(1))
    valid = torch.ones(1, 1, HEIGHT, WIDTH)
    weighted_target, weighted_reference = exemplar_transfer._for_own_photo(
        target, reference, torch.cat([own, other]), own, valid, settings
    )
    weight = settings.own_photo_lightness_weight
    assert 0 < weight < 1
    torch.testing.assert_close(weighted_target[0, :, :9], target[0] * weight)
    torch.testing.assert_close(weighted_reference[0, :, :9], reference[0] * weight)
    assert weighted_target[0, :, 9:].abs().amax() > 0  # positions
    torch.testing.assert_close(weighted_target[1], torch.cat([target[1], torch.zeros(32 * 16, 2)], dim=1))
    torch.testing.assert_close(weighted_reference[1], torch.cat([reference[1], torch.zeros(32 * 16, 2)], dim=1))
