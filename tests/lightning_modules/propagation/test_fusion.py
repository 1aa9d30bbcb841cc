import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.sparse import lil_matrix
from scipy.sparse.linalg import spsolve

from pseudocolor.datamodules.color_space import rgb_to_lab
from pseudocolor.datamodules.decoding import decode_image
from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.datamodules.sample_photos import SAMPLES_DIR
from pseudocolor.lightning_modules.propagation import conjugate_gradients, fusion
from pseudocolor.lightning_modules.propagation.fusion import feather_blend, fuse_regions, grow_mask, poisson_blend

EXACT = {"tol": 1e-11, "max_iter": 500}


def _grid(height: int, width: int, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.meshgrid(torch.arange(height, dtype=dtype), torch.arange(width, dtype=dtype), indexing="ij")


def _smooth_field(height: int, width: int, phase: float, dtype=torch.float64) -> torch.Tensor:
    """(2, H, W) ab-like field with gradients of at most about 1 per pixel."""
    y, x = _grid(height, width, dtype)
    return torch.stack([10 * torch.sin(x / 12 + phase), 8 * torch.cos(y / 10 - phase) + 0.05 * x])


def _disc(height: int, width: int, cy: float, cx: float, radius: float) -> torch.Tensor:
    y, x = _grid(height, width)
    return (y - cy) ** 2 + (x - cx) ** 2 < radius**2


def _reference_poisson(background: np.ndarray, region: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Perez et al.'s discrete equations solved directly with scipy, one channel at a time."""
    height, width = mask.shape
    index = -np.ones(mask.shape, dtype=int)
    index[mask] = np.arange(mask.sum())
    result = background.copy()
    for c in range(background.shape[0]):
        matrix = lil_matrix((mask.sum(), mask.sum()))
        rhs = np.zeros(mask.sum())
        for y, x in zip(*np.nonzero(mask)):
            row = index[y, x]
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if not (0 <= ny < height and 0 <= nx < width):
                    continue
                matrix[row, row] += 1
                rhs[row] += region[c, y, x] - region[c, ny, nx]
                if mask[ny, nx]:
                    matrix[row, index[ny, nx]] -= 1
                else:
                    rhs[row] += background[c, ny, nx]
        result[c][mask] = spsolve(matrix.tocsr(), rhs)
    return result


def test_constant_offset_inside_the_mask_is_removed():
    background = _smooth_field(96, 120, 0.3)
    mask = _disc(96, 120, 50, 60, 30)
    region = background + torch.tensor([25.0, -40.0], dtype=torch.float64)[:, None, None]
    torch.testing.assert_close(poisson_blend(background, region, mask, **EXACT), background, atol=1e-8, rtol=0)


def test_linear_ramp_is_kept_exactly():
    y, x = _grid(80, 100)
    ramp = torch.stack([0.7 * x - 20, -0.4 * y + 0.2 * x])
    mask = _disc(80, 100, 40, 50, 25)
    background = torch.where(mask, torch.randn(2, 80, 100, dtype=torch.float64) * 50, ramp)  # junk inside
    region = ramp + 13.0  # the ramp's gradients, any offset
    torch.testing.assert_close(poisson_blend(background, region, mask, **EXACT), ramp, atol=1e-8, rtol=0)


def test_flat_region_interpolates_a_ramp_background_harmonically():
    y, x = _grid(64, 64)
    ramp = torch.stack([0.5 * x + 0.25 * y, -x])
    mask = torch.zeros(64, 64, dtype=torch.bool)
    mask[10:50, 5:60] = True
    result = poisson_blend(ramp, torch.zeros_like(ramp), mask, **EXACT)
    torch.testing.assert_close(result, ramp, atol=1e-8, rtol=0)


@pytest.mark.parametrize("touch_border", [False, True])
def test_matches_a_direct_sparse_solve(touch_border):
    background = _smooth_field(40, 48, 0.1)
    region = _smooth_field(40, 48, 2.0) + 30
    mask = _disc(40, 48, 2 if touch_border else 20, 24, 14)
    expected = _reference_poisson(background.numpy(), region.numpy(), mask.numpy())
    torch.testing.assert_close(
        poisson_blend(background, region, mask, **EXACT), torch.from_numpy(expected), atol=1e-7, rtol=0
    )


def _boundary_jumps(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """|differences| of (C, H, W) between 4-neighbours on opposite sides of the mask edge."""
    vertical = (image[:, 1:] - image[:, :-1]).abs()[:, mask[1:] != mask[:-1]]
    horizontal = (image[:, :, 1:] - image[:, :, :-1]).abs()[:, mask[:, 1:] != mask[:, :-1]]
    return torch.cat([vertical, horizontal], dim=1)


def _max_gradient(image: torch.Tensor) -> torch.Tensor:
    return max((image[:, 1:] - image[:, :-1]).abs().max(), (image[..., 1:] - image[..., :-1]).abs().max())


def test_no_seam_across_the_mask_boundary():
    """The region is the background's structure recoloured: shifted by 35/-30 with a slow drift."""
    background = _smooth_field(128, 128, 0.0)
    y, x = _grid(128, 128)
    drift = torch.stack([5 * torch.sin(x / 40 + y / 60), 4 * torch.cos(y / 35)])
    region = background + torch.tensor([35.0, -30.0], dtype=torch.float64)[:, None, None] + drift
    mask = _disc(128, 128, 64, 64, 40)
    result = poisson_blend(background, region, mask, **EXACT)
    pasted = torch.where(mask, region, background)
    assert _boundary_jumps(pasted, mask).max() > 40 * _max_gradient(background)  # the seam a hard paste leaves
    assert _boundary_jumps(result, mask).max() <= _max_gradient(background)


def test_unrelated_textures_leave_a_jump_of_gradient_size_only():
    background = _smooth_field(128, 128, 0.0)
    region = _smooth_field(128, 128, 1.7) + torch.tensor([35.0, -30.0], dtype=torch.float64)[:, None, None]
    mask = _disc(128, 128, 64, 64, 40)
    result = poisson_blend(background, region, mask, **EXACT)
    steepest_input = max(_max_gradient(background), _max_gradient(region))
    assert _boundary_jumps(result, mask).max() <= 2 * steepest_input  # vs a jump of ~50 when pasted


def test_float32_default_tolerance_converges_to_the_float64_solution():
    background = _smooth_field(160, 140, 0.4)
    region = _smooth_field(160, 140, 2.5) - 20
    mask = _disc(160, 140, 80, 70, 60) | _disc(160, 140, 20, 20, 15)
    exact = poisson_blend(background, region, mask, **EXACT)
    approximate = poisson_blend(background.float(), region.float(), mask)
    assert approximate.dtype == torch.float32
    assert (approximate.double() - exact).abs().max() < 0.1  # ab units: invisible


def test_batched_background_shares_one_region_and_keeps_outside_untouched():
    background = torch.stack([_smooth_field(48, 64, 0.0), _smooth_field(48, 64, 1.0)])
    region = _smooth_field(48, 64, 2.0)
    mask = _disc(48, 64, 24, 32, 15)
    result = poisson_blend(background, region, mask, **EXACT)
    assert result.shape == background.shape
    torch.testing.assert_close(result[:, :, ~mask], background[:, :, ~mask], atol=0, rtol=0)
    torch.testing.assert_close(result[1], poisson_blend(background[1], region, mask, **EXACT))


def test_mask_covering_the_whole_image_returns_the_region():
    region = _smooth_field(32, 32, 0.5)
    result = poisson_blend(torch.zeros_like(region), region, torch.ones(32, 32, dtype=torch.bool))
    torch.testing.assert_close(result, region)


@pytest.mark.parametrize("blend", [poisson_blend, feather_blend])
def test_wrong_size_mask_is_a_clear_error(blend):
    background = torch.zeros(2, 32, 40)
    with pytest.raises(
        PseudocolorError, match=r"mask of region 3 must have shape \(H, W\) = \(32, 40\).*got \(40, 32\)"
    ):
        blend(background, background, torch.ones(40, 32, dtype=torch.bool), name="mask of region 3")


@pytest.mark.parametrize("blend", [poisson_blend, feather_blend])
def test_empty_mask_is_a_clear_error(blend):
    background = torch.zeros(2, 32, 40)
    with pytest.raises(PseudocolorError, match="sky.png is empty"):
        blend(background, background, torch.zeros(32, 40, dtype=torch.bool), name="sky.png")


def test_region_of_the_wrong_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"region must have shape \(2, 32, 40\)"):
        poisson_blend(torch.zeros(2, 32, 40), torch.zeros(2, 32, 41), torch.ones(32, 40, dtype=torch.bool))


def test_feather_blend_is_region_deep_inside_and_background_far_outside():
    background, region = torch.zeros(2, 64, 64), torch.ones(2, 64, 64)
    mask = torch.zeros(64, 64, dtype=torch.bool)
    mask[16:48, 16:48] = True
    result = feather_blend(background, region, mask, radius=4)
    assert result[:, 28:36, 28:36].min() > 0.999 and result[:, :4, :4].max() < 1e-3
    assert math.isclose(result[0, 32, 16].item(), 0.5, abs_tol=0.1)  # the mask edge
    torch.testing.assert_close(feather_blend(background, region, mask, radius=0), torch.where(mask, region, background))


def test_overlapping_regions_later_ones_win():
    background = torch.zeros(2, 32, 32)
    first, second = torch.full((2, 32, 32), 1.0), torch.full((2, 32, 32), 2.0)
    mask_first, mask_second = torch.zeros(32, 32, dtype=torch.bool), torch.zeros(32, 32, dtype=torch.bool)
    mask_first[4:20, 4:20] = True
    mask_second[12:28, 12:28] = True
    result = fuse_regions(background, [(first, mask_first), (second, mask_second)], blend="feather", radius=0)
    assert (result[:, mask_second] == 2).all() and (result[:, mask_first & ~mask_second] == 1).all()


def test_fuse_regions_names_the_offending_region():
    background = torch.zeros(2, 16, 16)
    good = torch.ones(16, 16, dtype=torch.bool)
    with pytest.raises(PseudocolorError, match="mask of region 1 is empty"):
        fuse_regions(background, [(background, good), (background, torch.zeros(16, 16, dtype=torch.bool))])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_device_and_dtype_follow_the_input(dtype):
    background = _smooth_field(40, 40, 0.0, dtype)
    result = poisson_blend(background, background + 1, _disc(40, 40, 20, 20, 10))
    assert result.dtype == dtype and result.device == background.device


def test_band_keeps_the_region_colours_deep_inside_and_meets_the_background_at_the_edge():
    background = _smooth_field(96, 96, 0.0)
    region = background + torch.tensor([30.0, -20.0], dtype=torch.float64)[:, None, None]
    mask = _disc(96, 96, 48, 48, 35)
    result = poisson_blend(background, region, mask, band=10, **EXACT)
    y, x = _grid(96, 96)
    deep = (y - 48) ** 2 + (x - 48) ** 2 < 19**2  # Chebyshev band 10 reaches 10 * sqrt(2) px deep
    torch.testing.assert_close(result[:, deep], region[:, deep], atol=0, rtol=0)
    torch.testing.assert_close(result[:, ~mask], background[:, ~mask], atol=0, rtol=0)
    assert _boundary_jumps(result, mask).max() <= 2 * 36 / 10  # the 36-unit shift spread over the band


def test_band_must_be_positive():
    with pytest.raises(ValueError, match="band must be None or at least 1 pixel"):
        poisson_blend(torch.zeros(2, 8, 8), torch.zeros(2, 8, 8), torch.ones(8, 8, dtype=torch.bool), band=0)


@pytest.mark.parametrize("shape, pixels", [((37, 53), 0), ((37, 53), 3), ((256, 256), 32), ((5, 300), 100)])
def test_grow_mask_equals_a_square_max_filter(shape, pixels):
    mask = torch.rand(shape, generator=torch.Generator().manual_seed(0)) > 0.995
    rows = F.max_pool2d(mask.float()[None, None], (1, 2 * pixels + 1), stride=1, padding=(0, pixels))
    square = F.max_pool2d(rows, (2 * pixels + 1, 1), stride=1, padding=(pixels, 0))[0, 0] > 0
    assert torch.equal(grow_mask(mask, pixels), square)


def _count_steps(monkeypatch) -> list[int]:
    """Make poisson_blend record how many conjugate-gradient steps each solve takes (the start's residual is no
    step); returns the list it appends to."""
    steps = []

    def counting(apply, precondition, rhs, tol, max_iter, x0=None):
        calls = []

        def counted(x):
            calls.append(1)
            return apply(x)

        result = conjugate_gradients.conjugate_gradients(counted, precondition, rhs, tol, max_iter, x0=x0)
        steps.append(len(calls) - (x0 is not None))
        return result

    monkeypatch.setattr("pseudocolor.lightning_modules.propagation.fusion.conjugate_gradients", counting)
    return steps


@pytest.mark.parametrize("band", [32, None])
def test_multigrid_solve_converges_in_few_steps(band, monkeypatch):
    """A 32-px seam band (and a whole mask) around the middle of a 256 px image reaches tol 1e-4 within 5 steps from
    the coarse-to-fine start (8-11 from zero); coarse grids that reach known pixels, or a weak coarse solve, took
    18-33."""
    steps = _count_steps(monkeypatch)
    mask = torch.zeros(256, 256, dtype=torch.bool)
    mask[32:224, 32:224] = True
    background, region = _smooth_field(256, 256, 0.3, torch.float32), _smooth_field(256, 256, 1.7, torch.float32) + 20
    poisson_blend(background, region, mask, band=band, tol=1e-4)
    assert len(steps) == 1 and 0 < steps[0] <= 5


def test_the_coarsest_grid_is_solved_exactly():
    """A small coarsest grid's V-cycle is the exact inverse of its masked Laplacian (its dense Cholesky inverse), not
    an approximation by Jacobi sweeps; with no known pixel (singular) it falls back to the sweeps."""
    inside = torch.ones(6, 7, dtype=torch.bool)
    inside[0, :3] = inside[5, 4:] = inside[2:4, 0] = False  # known pixels on three sides, one unknown island
    level = fusion._Level(inside, torch.float64)
    assert level.coarser is None and level.inverse is not None
    r = torch.randn(3, 6, 7, dtype=torch.float64) * inside
    torch.testing.assert_close(level.apply(level.v_cycle(r)), r, atol=1e-10, rtol=0)
    assert fusion._Level(torch.ones(6, 7, dtype=torch.bool), torch.float64).inverse is None


# ---------------------------------------------------------------- the fast default solve against an exact one
# The default solve (float32, tol 1e-4, 2-5 conjugate-gradient steps from the coarse-to-fine start) against one
# converged to 1e-11 in float64. Thresholds in ab units: at most 0.25 anywhere, 0.02 on average inside the mask,
# and the jumps across the mask's edge within 0.15 of the exact blend's (measured: at most 0.11, 0.008 and 0.07).
# That is far below a visible difference (about 2) and the 8-bit rounding of the output (about 0.5), while the
# coarse-to-fine start alone is off by 1.2-6.4 at most (seams off by 1.1-4.8) and a solve stopped at tol 1e-3 by
# 0.4-1.2 (seams 0.2-0.6): a speed-up that cut the solve short, or a start that left a seam, fails.
MAX_AB_ERROR, MEAN_AB_ERROR, SEAM_AB_ERROR = 0.25, 0.02, 0.15


def _assert_default_solve_is_exact_enough(background: torch.Tensor, region: torch.Tensor, mask: torch.Tensor, band):
    exact = poisson_blend(background.double(), region.double(), mask, band=band, **EXACT)
    fast = poisson_blend(background.float(), region.float(), mask, band=band).double()
    error = (fast - exact).abs()
    assert error.max() <= MAX_AB_ERROR, f"max |ab error| {error.max():.3f}"
    assert error[:, mask].mean() <= MEAN_AB_ERROR, f"mean |ab error| {error[:, mask].mean():.4f}"
    seam_error = (_boundary_jumps(fast, mask) - _boundary_jumps(exact, mask)).abs().max()
    assert seam_error <= SEAM_AB_ERROR, f"jumps across the mask's edge off by up to {seam_error:.3f}"
    pasted = torch.where(mask, region, background).double()
    assert _boundary_jumps(fast, mask).max() < _boundary_jumps(pasted, mask).max() / 2  # the blend did something


@pytest.mark.slow
@pytest.mark.parametrize("band", [None, 32])
def test_default_solve_matches_an_exact_one_at_one_megapixel(band, monkeypatch):
    """The benchmark's case (benchmark_fusion --side 1000): 1000 x 1000 ab, a disc mask over 41 % of the image."""
    steps = _count_steps(monkeypatch)
    y, x = _grid(1000, 1000)
    background = torch.stack([30 * torch.sin(x / 50), 20 * torch.cos(y / 40)])
    region = torch.stack([25 * torch.cos(x / 30) + 10, 20 * torch.sin(y / 60) - 5])
    mask = _disc(1000, 1000, 500, 500, 360)
    _assert_default_solve_is_exact_enough(background, region, mask, band)
    assert steps[1] <= 5  # the default solve (measured: 4; 9-11 from a zero start)


def _photo_ab(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A bundled photo upscaled twice (768 x 512) -> its (H, W) L and (2, H, W) ab."""
    rgb = decode_image(SAMPLES_DIR / name)[None].float() / 255
    lab = rgb_to_lab(F.interpolate(rgb, scale_factor=2, mode="bilinear").clamp(0, 1))[0]
    return lab[0], lab[1:]


@pytest.mark.slow
@pytest.mark.parametrize("band", [None, 32])
def test_default_solve_matches_an_exact_one_on_a_photo(band):
    """The parrots' ab with the hats' ab blended into the parrots' brighter half: a ragged mask (many parts, holes,
    1 px details, touching the image's borders) over real, noisy colours."""
    l, background = _photo_ab("kodim23.jpg")
    _, region = _photo_ab("kodim03.jpg")
    _assert_default_solve_is_exact_enough(background, region, l > l.median(), band)
