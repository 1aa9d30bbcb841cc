import kornia
import pytest
import torch

from pseudocolor.datamodules.color_space import (
    ab_to_rgb,
    ab_to_uint8,
    fit_to_gamut,
    in_strips,
    lab_to_rgb,
    lab_to_rgb_unclipped,
    resize_ab,
    rgb_to_lab,
    rgb_to_lab_fused,
    to_uint8,
    to_uint8_nearest,
    uint8_lightness,
    uint8_to_l,
)


def random_lab(shape=(2, 3, 40, 50), seed=0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    l = torch.rand(shape[0], 1, *shape[2:], generator=generator) * 100
    ab = (torch.rand(shape[0], 2, *shape[2:], generator=generator) - 0.5) * 220
    return torch.cat([l, ab], dim=1)


def test_out_of_gamut_colours_keep_their_lightness():
    lab = random_lab()
    rgb = lab_to_rgb(lab)
    assert rgb.min() >= 0 and rgb.max() <= 1
    assert (rgb_to_lab(rgb)[:, 0] - lab[:, 0]).abs().max() < 0.01
    clipped = kornia.color.lab_to_rgb(lab, clip=True)  # what per-channel clipping would do instead
    assert (rgb_to_lab(clipped)[:, 0] - lab[:, 0]).abs().max() > 5


def test_in_gamut_colours_are_unchanged():
    rgb = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-4, rtol=0)


def test_only_chroma_is_reduced_and_hue_is_kept():
    lab = random_lab(seed=2)
    fitted = rgb_to_lab(lab_to_rgb(lab))
    chroma, fitted_chroma = lab[:, 1:].norm(dim=1), fitted[:, 1:].norm(dim=1)
    assert (fitted_chroma <= chroma + 0.05).all()
    cosine = (lab[:, 1:] * fitted[:, 1:]).sum(dim=1) / (chroma * fitted_chroma).clamp_min(1e-6)
    assert cosine[fitted_chroma > 5].min() > 0.999


def test_fit_to_gamut_gives_the_lab_of_what_lab_to_rgb_shows():
    lab = random_lab(seed=3)
    fitted = fit_to_gamut(lab)
    torch.testing.assert_close(fitted, rgb_to_lab(lab_to_rgb(lab)), atol=0.02, rtol=0)
    torch.testing.assert_close(lab_to_rgb(fitted), lab_to_rgb(lab), atol=1e-4, rtol=0)
    assert (fitted[:, 1:] != lab[:, 1:]).any()  # the random colours include out-of-gamut ones


def test_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        lab_to_rgb(torch.zeros(3, 8, 8))


def test_ab_to_rgb_keeps_the_given_lightness_for_any_predicted_ab():
    """The one output rule: predicted ab (any size, any colour) composed onto L never changes L."""
    generator = torch.Generator().manual_seed(2)
    l = torch.rand(2, 1, 32, 48, generator=generator) * 100
    ab = (torch.rand(2, 2, 8, 12, generator=generator) - 0.5) * 220  # many colours outside the gamut at their L
    rgb = ab_to_rgb(l, ab)
    assert rgb.shape == (2, 3, 32, 48)
    assert (rgb_to_lab(rgb)[:, :1] - l).abs().max() < 0.01


def test_strips_give_the_whole_maps_answer():
    generator = torch.Generator().manual_seed(3)
    l = torch.rand(1, 1, 37, 29, generator=generator) * 100
    ab = (torch.rand(1, 2, 9, 7, generator=generator) - 0.5) * 200  # many colours out of gamut
    whole = to_uint8(ab_to_rgb(l, ab))[0]
    assert torch.equal(ab_to_uint8(l, ab), whole)
    full_ab = resize_ab(ab, (37, 29))
    strips = in_strips(ab_to_rgb, l, full_ab, strip_pixels=100)  # 3-row strips, the last one shorter
    assert torch.allclose(strips, ab_to_rgb(l, full_ab), atol=1e-6)
    image = (torch.rand(3, 37, 29, generator=generator) * 255).to(torch.uint8)
    assert torch.allclose(uint8_to_l(image, "cpu"), rgb_to_lab(image[None].float() / 255)[:, :1], atol=1e-5)


def test_strips_need_maps_of_one_size():
    with pytest.raises(ValueError, match="one size"):
        in_strips(torch.add, torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))


def nearest_by_search(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pixel's nearest colour in Lab among its 8 rounding corners, tried one by one with rgb_to_lab, and the
    Lab distances of those colours to `rgb`'s."""
    target = rgb_to_lab(rgb)
    low = (rgb * 255).floor().clamp(0, 254)
    best, best_error = None, None
    for index in range(8):
        corner = low + torch.tensor([index // 4, index // 2 % 2, index % 2]).view(1, 3, 1, 1)
        error = (rgb_to_lab(corner / 255) - target).norm(dim=1, keepdim=True)
        if best is None:
            best, best_error = corner, error
        else:
            best = torch.where(error < best_error, corner, best)
            best_error = torch.minimum(error, best_error)
    return best.to(torch.uint8), best_error


def test_nearest_rounding_picks_the_corner_whose_lab_is_nearest():
    rgb = lab_to_rgb(random_lab((2, 3, 64, 64), seed=3))  # in gamut, dark to light, grey to saturated
    rounded = to_uint8_nearest(rgb, rgb_to_lab(rgb))
    searched, searched_error = nearest_by_search(rgb)
    assert (rounded == searched).all(dim=1).float().mean() > 0.99  # the first-order Lab differs in rare near-ties
    assert ((rounded.float() - rgb * 255).abs() <= 1 + 1e-4).all()
    error = (rgb_to_lab(rounded.float() / 255) - rgb_to_lab(rgb)).norm(dim=1)
    plain = (rgb_to_lab(to_uint8(rgb).float() / 255) - rgb_to_lab(rgb)).norm(dim=1)
    assert error.mean() <= searched_error.mean() * 1.01
    assert error.mean() < 0.9 * plain.mean()  # 19 % less on these random colours


def test_nearest_rounding_keeps_dark_colours_from_jumping_in_ab():
    # a dark reddish surface whose exact colour drifts a little, as a moving texture's pixels do from frame to frame
    l = torch.linspace(8, 12, 400).view(1, 1, 20, 20)
    lab = torch.cat([l, torch.full_like(l, 12.0), torch.full_like(l, 6.0)], dim=1)
    rgb = lab_to_rgb(lab)
    nearest = rgb_to_lab(to_uint8_nearest(rgb, lab).float() / 255)[:, 1:]
    plain = rgb_to_lab(to_uint8(rgb).float() / 255)[:, 1:]
    assert (nearest - lab[:, 1:]).norm(dim=1).mean() < 0.7 * (plain - lab[:, 1:]).norm(dim=1).mean()


def test_nearest_rounding_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="lab must have shape"):
        to_uint8_nearest(torch.rand(1, 3, 4, 4), torch.rand(1, 2, 4, 4))


def test_lightness_of_every_8_bit_colour_is_kornias():
    levels = torch.arange(256, dtype=torch.uint8)
    every = torch.stack(torch.meshgrid(levels, levels, levels, indexing="ij")).reshape(1, 3, 256, 65536)

    fast = uint8_lightness(every)

    assert fast.shape == (1, 1, 256, 65536)
    assert (fast - rgb_to_lab(every.float() / 255)[:, :1]).abs().max() < 3e-5


def test_lightness_needs_8_bit_rgb():
    with pytest.raises(ValueError, match="must be uint8"):
        uint8_lightness(torch.rand(1, 3, 4, 4))


def test_the_fused_lab_of_every_8_bit_colour_is_kornias():
    levels = torch.arange(256, dtype=torch.uint8)
    every = torch.stack(torch.meshgrid(levels, levels, levels, indexing="ij")).reshape(1, 3, 256, 65536).float() / 255

    difference = (rgb_to_lab_fused(every) - kornia.color.rgb_to_lab(every)).abs()

    assert difference.max() < 2e-4  # L and ab units: float32 rounding of the exp/log powers
    assert difference.mean() < 1e-5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_fused_lab_to_rgb_is_kornias_inside_and_outside_the_gamut(dtype):
    lab = random_lab().to(dtype)  # ab up to +-110: many colours outside the gamut, some with Z < 0
    lab[0, :, 0, :3] = torch.tensor([[0.0, 50.0, 100.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=dtype)  # greys

    fused = lab_to_rgb_unclipped(lab)
    expected = kornia.color.lab_to_rgb(lab, clip=False)

    assert fused.dtype == dtype
    torch.testing.assert_close(fused, expected, rtol=2e-5, atol=1e-5)
    assert (fused < 0).any() and (fused > 1).any()  # unclipped, as kornia's with clip=False
