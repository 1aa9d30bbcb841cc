import kornia
import pytest
import torch

from pseudocolor.datamodules.color_space import (
    ab_to_rgb,
    ab_to_uint8,
    in_strips,
    lab_to_rgb,
    resize_ab,
    rgb_to_lab,
    to_uint8,
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
