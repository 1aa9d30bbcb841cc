"""Simulated hints: user clicks and references drawn from the ground truth, so one network learns automatic and
guided colouring (Zhang et al. SIGGRAPH17), and the fixed hint protocol of `evaluate --hints N`.

Evaluation protocol `--hints N`: N ground-truth point hints per image, 1x1 pixel each, at positions drawn
uniformly over the image the network sees, from a torch.Generator seeded with a fixed seed
(`HintSampler.points`), the hint colour being the ground-truth ab at that pixel.
"""

from __future__ import annotations

import torch

from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.lightning_modules.guided.hints import encode_ab_hints, global_hint_from_ab


def _box_means(ab: torch.Tensor, points: torch.Tensor, sides: torch.Tensor) -> torch.Tensor:
    """Mean of (B, 2, H, W) ab over the clipped patches of (B, N, 2) (x, y) points and (B, N) sides -> (B, N, 2)."""
    batch, _, height, width = ab.shape
    integral = torch.zeros(batch, 2, height + 1, width + 1, dtype=torch.float64, device=ab.device)
    integral[:, :, 1:, 1:] = ab.double().cumsum(2).cumsum(3)
    top = (points[..., 1] - (sides - 1) // 2).clamp(0, height)
    left = (points[..., 0] - (sides - 1) // 2).clamp(0, width)
    bottom = (top + sides).clamp(0, height)
    right = (left + sides).clamp(0, width)
    flat = integral.flatten(2)

    def corner(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return flat.gather(2, (y * (width + 1) + x)[:, None, :].expand(-1, 2, -1))

    sums = corner(bottom, right) - corner(top, right) - corner(bottom, left) + corner(top, left)
    area = ((bottom - top) * (right - left)).clamp_min(1)[:, None, :]
    return (sums / area).permute(0, 2, 1).to(ab.dtype)


class HintSampler:
    """Simulates user hints from the ground truth, so one network serves automatic and guided colouring.

    Local hints: with probability `p_none` an image gets none; otherwise 1 + Geometric(`p_geometric`)
    points (capped at `max_points`), uniform positions, square patches of a side uniform in
    [1, `max_patch`], each coloured with the mean ground-truth ab of its patch.
    Global hint: kept with probability `p_global`; the histogram and saturation of a random crop
    covering a fraction in [`crop_scale`, 1] of each side (the whole image when crop_scale is 1).

    Args:
        p_none: share of images without local hints.
        p_geometric: success probability of the geometric number of extra points (mean 1 / p - 1).
        max_points: most points per image.
        max_patch: largest patch side in pixels (SIGGRAPH17: 9).
        p_global: share of images given a global hint.
        crop_scale: smallest side fraction of the crop the global hint is taken from.
    """

    def __init__(
        self,
        p_none: float = 0.5,
        p_geometric: float = 0.125,
        max_points: int = 128,
        max_patch: int = 9,
        p_global: float = 0.3,
        crop_scale: float = 0.5,
    ) -> None:
        for name, value in (("p_none", p_none), ("p_global", p_global)):
            if not 0 <= value <= 1:
                raise PseudocolorError(f"{name} must be in [0, 1], got {value}")
        if not 0 < p_geometric <= 1:
            raise PseudocolorError(f"p_geometric must be in (0, 1], got {p_geometric}")
        if max_points < 1 or max_patch < 1:
            raise PseudocolorError(f"max_points and max_patch must be >= 1, got {max_points} and {max_patch}")
        if not 0 < crop_scale <= 1:
            raise PseudocolorError(f"crop_scale must be in (0, 1], got {crop_scale}")
        self.p_none = p_none
        self.p_geometric = p_geometric
        self.max_points = max_points
        self.max_patch = max_patch
        self.p_global = p_global
        self.crop_scale = crop_scale

    @staticmethod
    def _check_lab(lab: torch.Tensor) -> None:
        if lab.ndim != 4 or lab.shape[1] != 3:
            raise ValueError(f"lab must have shape (B, 3, H, W), got {tuple(lab.shape)}")

    @staticmethod
    def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
        """Uniform [0, 1) drawn on the generator's device (CPU by default), then moved: same draws on any device."""
        source = generator.device if generator is not None else torch.device("cpu")
        return torch.rand(shape, generator=generator, device=source, dtype=torch.float64).to(device)

    def sample_counts(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(batch,) int64 number of local hints per image."""
        draws = self._uniform((2, batch), generator, torch.device("cpu"))
        extra = torch.floor(torch.log1p(-draws[1]) / torch.log1p(torch.tensor(-self.p_geometric, dtype=torch.float64)))
        counts = (1 + extra).clamp(max=self.max_points).long()
        return torch.where(draws[0] < self.p_none, torch.zeros_like(counts), counts)

    def points(
        self, lab: torch.Tensor, num_points: int, generator: torch.Generator | None = None, patch_size: int = 1
    ) -> torch.Tensor:
        """Evaluation hints: (B, 3, H, W) Lab -> (B, 3, H, W) local hints with `num_points` ground-truth
        patches of side `patch_size` per image at uniform random positions."""
        self._check_lab(lab)
        counts = torch.full((lab.shape[0],), num_points, dtype=torch.long)
        return self._local_hints(lab, counts, torch.full((lab.shape[0], num_points), patch_size), generator)

    def _local_hints(
        self, lab: torch.Tensor, counts: torch.Tensor, sides: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        batch, _, height, width = lab.shape
        largest = int(counts.max()) if counts.numel() else 0
        where = self._uniform((batch, largest, 2), generator, lab.device)
        points = (where * torch.tensor([width, height], device=lab.device)).long()
        sides = sides.to(lab.device).long()
        valid = torch.arange(largest, device=lab.device) < counts.to(lab.device)[:, None]
        ab = _box_means(lab[:, 1:], points, sides)
        return encode_ab_hints(points, ab, height, width, sides, valid)

    def global_hints(self, lab: torch.Tensor, bins: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, 3, H, W) Lab -> (B, Q + 1) global hints of random crops, zero for dropped images."""
        self._check_lab(lab)
        batch, _, height, width = lab.shape
        draws = self._uniform((batch, 5), generator, lab.device)
        sides = self.crop_scale + (1 - self.crop_scale) * draws[:, :2]
        crop_h, crop_w = (sides[:, 0] * height).ceil(), (sides[:, 1] * width).ceil()
        top, left = draws[:, 2] * (height - crop_h + 1), draws[:, 3] * (width - crop_w + 1)
        rows = torch.arange(height, device=lab.device, dtype=torch.float64)[None, :, None]
        cols = torch.arange(width, device=lab.device, dtype=torch.float64)[None, None, :]
        top, left = top.floor()[:, None, None], left.floor()[:, None, None]
        crop = (rows >= top) & (rows < top + crop_h[:, None, None]) & (cols >= left) & (cols < left + crop_w[:, None, None])
        keep = (draws[:, 4] < self.p_global)[:, None, None]
        return global_hint_from_ab(lab[:, 1:], bins, (crop & keep)[:, None].to(lab.dtype))

    def __call__(
        self, lab: torch.Tensor, bins: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Training hints for a (B, 3, H, W) Lab batch -> {"local_hints": (B, 3, H, W), "global_hint": (B, Q + 1)}."""
        self._check_lab(lab)
        counts = self.sample_counts(lab.shape[0], generator)
        largest = int(counts.max()) if counts.numel() else 0
        sides = 1 + (self._uniform((lab.shape[0], largest), generator, torch.device("cpu")) * self.max_patch).long()
        return {
            "local_hints": self._local_hints(lab, counts, sides, generator),
            "global_hint": self.global_hints(lab, bins, generator),
        }

