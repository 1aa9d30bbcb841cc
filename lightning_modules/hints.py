"""Hint inputs of the network (Zhang et al. SIGGRAPH17): encoding user hints and simulating them in training.

Local hints: (B, 3, H, W) = [a / AB_SCALE, b / AB_SCALE, mask], mask 1 on hinted pixels, all zero
where there is no hint. Global hint: (B, Q + 1) = [ab histogram over the network's Q bins (sums to 1),
mean saturation], all zero for "no global hint". Saturation is the mean chroma sqrt(a^2 + b^2) / AB_SCALE
of the counted pixels (0 for grey, about 0.3 for typical photos, at most about 1.2).

Evaluation protocol `--hints N`: N ground-truth point hints per image, 1x1 pixel each, at positions
drawn uniformly over the image the network sees, from a torch.Generator seeded with a fixed seed
(`HintSampler.points`), the hint colour being the ground-truth ab at that pixel.
"""

from __future__ import annotations

import re

import torch

from lightning_modules.color import ab_histogram, normalize_ab, rgb_to_lab

HINT_PATTERN = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*,\s*#?([0-9a-fA-F]{6})\s*$")


def _check_points(positions: torch.Tensor, values: torch.Tensor, channels: int, name: str) -> None:
    if positions.ndim != 3 or positions.shape[-1] != 2:
        raise ValueError(f"points must have shape (B, N, 2) as (x, y) pixels, got {tuple(positions.shape)}")
    if values.shape != (*positions.shape[:2], channels):
        raise ValueError(f"{name} must have shape {(*positions.shape[:2], channels)}, got {tuple(values.shape)}")


def _patch_offsets(patch_size: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-point (B, N) patch sides -> offsets (P*P,) in y and x, and (B, N, P*P) which offsets are used."""
    largest = int(patch_size.max()) if patch_size.numel() else 1
    steps = torch.arange(largest, device=patch_size.device)
    dy, dx = (t.flatten() for t in torch.meshgrid(steps, steps, indexing="ij"))
    used = (dy < patch_size[..., None]) & (dx < patch_size[..., None])
    return dy, dx, used


def encode_ab_hints(
    points: torch.Tensor,
    ab: torch.Tensor,
    height: int,
    width: int,
    patch_size: int | torch.Tensor = 1,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sparse ab hints -> (B, 3, height, width) local hint map.

    Args:
        points: (B, N, 2) (x, y) pixel positions; a patch of `patch_size` pixels a side is centred on each
            (top-left for even sides) and clipped to the image.
        ab: (B, N, 2) hint colours in Lab units.
        patch_size: one side for all points, or (B, N) sides.
        valid: (B, N) bool, which points exist (batches with different hint counts); default all.

    Where patches overlap, the hint colour is their mean.
    """
    _check_points(points, ab, 2, "ab")
    batch, count = points.shape[:2]
    device = ab.device
    sides = torch.as_tensor(patch_size, device=device).expand(batch, count).long()
    if (sides < 1).any():
        raise ValueError("patch_size must be at least 1 pixel")
    valid = torch.ones(batch, count, dtype=torch.bool, device=device) if valid is None else valid.to(device)
    dy, dx, used = _patch_offsets(sides)
    used = used & valid[..., None]
    points = points.to(device).long()
    ys = points[..., 1:2] - (sides[..., None] - 1) // 2 + dy
    xs = points[..., 0:1] - (sides[..., None] - 1) // 2 + dx
    used = used & (ys >= 0) & (ys < height) & (xs >= 0) & (xs < width)
    image = torch.arange(batch, device=device)[:, None, None].expand_as(ys)
    index = (image[used], ys[used], xs[used])
    colour = normalize_ab(ab)[:, :, None, :].expand(-1, -1, ys.shape[-1], -1)[used]
    total = torch.zeros(batch, height, width, 2, dtype=ab.dtype, device=device)
    total.index_put_(index, colour, accumulate=True)
    hits = torch.zeros(batch, height, width, dtype=ab.dtype, device=device)
    hits.index_put_(index, torch.ones_like(colour[:, 0]), accumulate=True)
    mask = (hits > 0).to(ab.dtype)
    hinted_ab = total / hits.clamp_min(1)[..., None]
    return torch.cat([hinted_ab.permute(0, 3, 1, 2), mask[:, None]], dim=1)


def encode_point_hints(
    points: torch.Tensor, colors: torch.Tensor, height: int, width: int, patch_size: int = 1
) -> torch.Tensor:
    """User clicks -> (B, 3, height, width) local hint map.

    Args:
        points: (B, N, 2) (x, y) positions in pixels of the height x width hint map.
        colors: (B, N, 3) RGB in [0, 1]; their ab (via `color.rgb_to_lab`) is the hint.
    """
    _check_points(points, colors, 3, "colors")
    lab = rgb_to_lab(colors.reshape(1, -1, 3).permute(0, 2, 1)[..., None].float())
    ab = lab[0, 1:, :, 0].T.reshape(*colors.shape[:2], 2)
    return encode_ab_hints(points, ab, height, width, patch_size)


def scale_points(points: torch.Tensor, image_size: tuple[int, int], hint_size: tuple[int, int]) -> torch.Tensor:
    """(..., 2) (x, y) pixels of an image of `image_size` (H, W) -> pixels of a `hint_size` (h, w) map."""
    (height, width), (hint_height, hint_width) = image_size, hint_size
    scale = torch.tensor([hint_width / width, hint_height / height], device=points.device)
    limit = torch.tensor([hint_width - 1, hint_height - 1], device=points.device)
    return torch.minimum((points.float() * scale).floor().long(), limit)


def parse_hint(text: str) -> tuple[tuple[int, int], tuple[float, float, float]]:
    """'X,Y,#RRGGBB' (pixels of the input image, hex colour) -> ((x, y), (r, g, b) in [0, 1])."""
    match = HINT_PATTERN.match(text)
    if match is None:
        raise ValueError(f"hint {text!r} is not X,Y,#RRGGBB (pixel column, pixel row, hex colour), e.g. 120,45,#3a7bd5")
    x, y, colour = int(match[1]), int(match[2]), match[3]
    return (x, y), tuple(int(colour[i : i + 2], 16) / 255 for i in (0, 2, 4))


def global_hint_from_ab(ab: torch.Tensor, bins: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 2, H, W) ab (Lab units) -> (B, Q + 1) global hint: histogram over `bins` (Q, 2), mean saturation.

    `mask` (B, 1, H, W) or (H, W) in {0, 1} selects the pixels; an image with none gets all zeros.
    """
    if ab.ndim != 4 or ab.shape[1] != 2:
        raise ValueError(f"ab must have shape (B, 2, H, W), got {tuple(ab.shape)}")
    if mask is not None:
        mask = mask.to(ab.device)
        if mask.ndim == 2:
            mask = mask[None, None].expand(ab.shape[0], 1, -1, -1)
        if mask.shape != (ab.shape[0], 1, *ab.shape[-2:]):
            raise ValueError(f"mask must have shape {(ab.shape[0], 1, *ab.shape[-2:])} or (H, W), got {tuple(mask.shape)}")
    weights = torch.ones_like(ab[:, :1]) if mask is None else mask.to(ab.dtype)
    histogram = ab_histogram(ab, bins, weights)
    chroma = normalize_ab(ab).norm(dim=1, keepdim=True)
    saturation = (chroma * weights).flatten(1).sum(dim=1) / weights.flatten(1).sum(dim=1).clamp_min(1)
    return torch.cat([histogram, saturation[:, None]], dim=1)


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
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if not 0 < p_geometric <= 1:
            raise ValueError(f"p_geometric must be in (0, 1], got {p_geometric}")
        if max_points < 1 or max_patch < 1:
            raise ValueError(f"max_points and max_patch must be >= 1, got {max_points} and {max_patch}")
        if not 0 < crop_scale <= 1:
            raise ValueError(f"crop_scale must be in (0, 1], got {crop_scale}")
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

