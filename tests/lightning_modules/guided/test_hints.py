import pytest
import torch
from skimage.color import rgb2lab

from pseudocolor.datamodules.color_space import rgb_to_lab
from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.lightning_modules.ab_encoding import AB_SCALE, gamut_ab_bins
from pseudocolor.lightning_modules.guided.hint_sampler import HintSampler
from pseudocolor.lightning_modules.guided.hints import (
    encode_ab_hints,
    encode_point_hints,
    global_hint_from_ab,
    parse_hint,
    scale_points,
)

BINS = gamut_ab_bins()


def _lab(batch: int = 4, size: int = 32, seed: int = 0) -> torch.Tensor:
    rgb = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))
    return rgb_to_lab(rgb)


def test_point_hints_land_on_the_right_pixels_with_the_right_ab():
    points = torch.tensor([[[3, 5], [10, 0]]])  # (x, y)
    colors = torch.tensor([[[0.9, 0.2, 0.1], [0.1, 0.3, 0.8]]])
    hints = encode_point_hints(points, colors, height=12, width=16)
    assert hints.shape == (1, 3, 12, 16)
    assert hints[0, 2].nonzero().tolist() == [[0, 10], [5, 3]]
    expected = torch.from_numpy(rgb2lab(colors[0].double().numpy())[:, 1:]).float() / AB_SCALE
    torch.testing.assert_close(hints[0, :2, 5, 3], expected[0], atol=1e-3, rtol=0)
    torch.testing.assert_close(hints[0, :2, 0, 10], expected[1], atol=1e-3, rtol=0)
    assert hints[0, :2][:, hints[0, 2] == 0].abs().max() == 0


def test_patches_are_centred_clipped_and_overlaps_averaged():
    ab = torch.tensor([[[20.0, -10.0], [40.0, 10.0]]])
    hints = encode_ab_hints(torch.tensor([[[0, 0], [1, 1]]]), ab, 6, 6, patch_size=3)
    assert hints[0, 2].nonzero().tolist() == [[y, x] for y in range(3) for x in range(3)]
    torch.testing.assert_close(hints[0, :2, 0, 0] * AB_SCALE, torch.tensor([30.0, 0.0]))  # both patches
    torch.testing.assert_close(hints[0, :2, 2, 2] * AB_SCALE, torch.tensor([40.0, 10.0]))  # the second only


def test_invalid_points_are_left_out():
    hints = encode_ab_hints(torch.zeros(2, 3, 2, dtype=torch.long), torch.ones(2, 3, 2), 4, 4, valid=torch.tensor([[True, False, False], [False] * 3]))
    assert hints[0, 2].sum() == 1 and hints[1].abs().sum() == 0


@pytest.mark.parametrize(
    ("points", "colors", "match"),
    [(torch.zeros(1, 2), torch.zeros(1, 2, 3), r"points must have shape \(B, N, 2\)"), (torch.zeros(1, 2, 2), torch.zeros(1, 3, 3), r"colors must have shape \(1, 2, 3\)")],
)
def test_point_hint_shape_errors(points, colors, match):
    with pytest.raises(ValueError, match=match):
        encode_point_hints(points, colors, 8, 8)


def test_parse_hint_and_scale_points():
    assert parse_hint("120,45,#3a7bd5") == ((120, 45), (0x3A / 255, 0x7B / 255, 0xD5 / 255))
    assert parse_hint(" 1, 2, FF0000 ")[0] == (1, 2)
    with pytest.raises(PseudocolorError, match="X,Y,#RRGGBB"):
        parse_hint("12;4;red")
    scaled = scale_points(torch.tensor([[0, 0], [799, 599], [400, 300]]), (600, 800), (256, 256))
    assert scaled.tolist() == [[0, 0], [255, 255], [128, 128]]


def test_global_hint_histogram_sums_to_one_and_saturation_is_mean_chroma():
    lab = _lab()
    hint = global_hint_from_ab(lab[:, 1:], BINS)
    assert hint.shape == (4, BINS.shape[0] + 1)
    torch.testing.assert_close(hint[:, :-1].sum(dim=1), torch.ones(4))
    torch.testing.assert_close(hint[:, -1], lab[:, 1:].norm(dim=1).mean(dim=(1, 2)) / AB_SCALE)


def test_global_hint_of_a_masked_area_and_of_nothing():
    ab = torch.zeros(1, 2, 8, 8)
    ab[..., :4] = torch.tensor([50.0, 0.0])[:, None, None]
    mask = torch.zeros(8, 8)
    mask[:, :4] = 1
    hint = global_hint_from_ab(ab, BINS, mask)
    assert hint[0, :-1].max() == 1 and hint[0, -1].item() == pytest.approx(50 / AB_SCALE)
    assert global_hint_from_ab(ab, BINS, torch.zeros(8, 8)).abs().sum() == 0
    with pytest.raises(ValueError, match=r"mask must have shape \(1, 1, 8, 8\)"):
        global_hint_from_ab(ab, BINS, torch.zeros(7, 8))


def test_sampler_counts_follow_p_none_and_the_geometric_mean():
    counts = HintSampler(p_none=0.5, p_geometric=0.125).sample_counts(20000, torch.Generator().manual_seed(0))
    assert (counts == 0).float().mean().item() == pytest.approx(0.5, abs=0.02)
    assert counts[counts > 0].float().mean().item() == pytest.approx(8.0, abs=0.3)  # 1 + (1 - p) / p
    assert counts.max() <= 128


def test_sampler_is_deterministic_given_a_generator():
    lab, sampler = _lab(), HintSampler(p_none=0.2, p_global=0.5)
    first = sampler(lab, BINS, torch.Generator().manual_seed(7))
    second = sampler(lab, BINS, torch.Generator().manual_seed(7))
    third = sampler(lab, BINS, torch.Generator().manual_seed(8))
    for key in first:
        torch.testing.assert_close(first[key], second[key])
    assert not torch.equal(first["local_hints"], third["local_hints"])


def test_sampled_hints_carry_the_ground_truth_patch_mean():
    lab = _lab(batch=2, size=24)
    hints = HintSampler(p_none=0.0, max_patch=1)(lab, BINS, torch.Generator().manual_seed(1))["local_hints"]
    hinted = hints[:, 2] > 0
    assert hinted.any()
    torch.testing.assert_close(hints[:, :2].permute(0, 2, 3, 1)[hinted] * AB_SCALE, lab[:, 1:].permute(0, 2, 3, 1)[hinted], atol=1e-4, rtol=0)


def test_sampled_global_hints_are_dropped_or_normalised():
    hints = HintSampler(p_global=0.5)(_lab(batch=64, size=16), BINS, torch.Generator().manual_seed(0))["global_hint"]
    sums = hints[:, :-1].sum(dim=1)
    kept = sums > 0
    torch.testing.assert_close(sums[kept], torch.ones(int(kept.sum())))
    assert hints[~kept].abs().sum() == 0 and 0.3 < kept.float().mean() < 0.7


def test_evaluation_points_give_exactly_n_hints_per_image():
    hints = HintSampler().points(_lab(size=64), 10, torch.Generator().manual_seed(3))
    counts = hints[:, 2].sum(dim=(1, 2))
    assert ((counts <= 10) & (counts >= 9)).all()  # two draws may share a pixel
    assert HintSampler().points(_lab(), 0).abs().sum() == 0


@pytest.mark.parametrize("kwargs", [{"p_none": 1.5}, {"p_geometric": 0.0}, {"max_patch": 0}, {"crop_scale": 0.0}])
def test_sampler_rejects_bad_settings(kwargs):
    with pytest.raises(PseudocolorError, match=next(iter(kwargs))):
        HintSampler(**kwargs)
