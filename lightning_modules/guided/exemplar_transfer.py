"""Exemplar-based colour transfer: colours taken from a reference picture by correspondence.

After Welsh, Ashikhmin & Mueller 2002 ("Transferring color to greyscale images": match lightness statistics once
the reference's L is remapped to the target's mean and spread) and He et al. 2018 ("Deep exemplar-based
colorization": match the features of a colorization network). It works on the grid of the network's output, one
cell per CELL x CELL pixels of the working-size target:

1. every cell gets a descriptor: lightness mean, spread and gradient magnitude over windows of a few sizes (the
   reference's remapped) plus the colorizer's own L2-normalised features. A reference smaller than the target (in
   area) is not enlarged: the target is shrunk to the reference's scale and matched there, so both show as much
   detail, and the colours found are enlarged back onto the target's grid (cheaper than enlarging the reference);
2. each target cell takes the ab of its k nearest usable reference cells, weighted by match distance;
3. the transferred colour gets a variance: a floor, plus how much the k neighbours' colours disagree, plus the
   squared match distance times how varied the reference's colours are (a poor match into a one-colour reference
   still gives the colour the user asked for); the automatic colour's variance is a constant scaled by how much
   better transfer does than the network on the reference's own cells (each matched to the rest of the reference,
   its near cells left out; the reference's true colours are known), so a picture whose colours transfer poorly
   leans on the network. The reference's share is sigma_auto^2 / (sigma_auto^2 + sigma_transfer^2), as when
   fusing two Gaussian estimates;
4. the fused change to the automatic ab spreads along the target's lightness edges (a screened-Poisson solve):

    min_r  sum_i s_i (r_i - d_i)^2 + fallback (1 - s_i) r_i^2 + smoothness sum_neighbours w_ij (r_i - r_j)^2,
    w_ij = exp(-(L_i - L_j)^2 / (2 edge_sigma^2)),   d = transferred ab - automatic ab,

   and ab = automatic ab + r. The same solve applied to d = 1 gives each cell's final share of the reference, the
   returned confidence: |ab - automatic ab| <= confidence * max |d|, so where it is low the network's colour stays.

Ranges: L in [0, 100], ab in Lab units; confidence in [0, 1].
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import kornia
import torch
import torch.nn.functional as F
from torch import nn

from pseudocolor.lightning_modules.ab_encoding import ANNEALED_TEMPERATURE, annealed_mean, normalize_l
from pseudocolor.lightning_modules.propagation.edge_aware import solve_edge_aware

CELL = 4  # pixels per side of a grid cell: the network's output stride
NETWORK_MULTIPLE = 16  # the network's input sides must be multiples of this (inputs are padded to it)
WINDOWS = (1, 3, 7)  # sides, in cells, of the windows of the lightness statistics
MIN_REFERENCE_SIDE = NETWORK_MULTIPLE  # references are resized to at least this many pixels a side


@dataclass(frozen=True)
class TransferSettings:
    """How transfer_ab matches and fuses (defaults chosen on 40 photo-mix/val photos and the 24 bundled Kodak photos,
    region from the rest of its own photo; the calibration's on Kodak24, regions from the rest and the mirrored photo;
    position_weight's on Kodak24 and 50 photo-mix/val photos, region from the rest: 0, 0.5, 1, 2, 4, 8 tried;
    own_photo_lightness_weight's on 80 photo-mix/val photos, the 33 whose region from the rest fell more than 0.5 dB
    below automatic colouring and 47 others: 1, 1/4, 1/8 and 0 tried).

    Attributes:
        neighbours: k nearest reference cells per target cell.
        lightness_scale: L units of a window's mean lightness that count as one unit of descriptor distance.
        texture_scale: L units of a window's lightness spread or mean gradient magnitude that count as one unit.
        network_weight: weight of the L2-normalised network features against the lightness statistics.
        match_temperature: squared descriptor distance over which a farther neighbour's weight falls by e.
        match_scale: squared descriptor distance at which a match's colour variance reaches the reference's.
        disagreement_weight: weight of the k neighbours' colour variance in the transferred colour's variance.
        transfer_variance: ab variance (Lab units squared) of even a perfect, unanimous match.
        auto_variance: ab variance of the automatic colour.
        fallback: pull of a cell to the automatic colour, times (1 - its share of the reference).
        smoothness: weight of the edge-aware smoothness term.
        edge_sigma: lightness difference (L units) at which neighbours stop sharing colour (weight e^-1/2).
        iterations: most conjugate-gradient steps of the spreading solve.
        tolerance: relative residual at which the spreading solve stops earlier.
        min_valid: least fraction of valid pixels for a reference cell to be used.
        max_lightness_ratio: bound on Welsh's ratio of target to reference lightness spread (and its inverse).
        chunk: target cells per distance block (bounds memory).
        calibration_radius: cells around a reference cell left out when it is matched to the rest of the reference
            to measure how well transfer does on this picture (0: no calibration).
        calibration_queries: reference cells so matched.
        calibration_ratio: automatic error over transfer error on those cells at which auto_variance is kept as is.
        calibration_power: how strongly auto_variance follows that ratio (its factor is ratio / calibration_ratio
            to this power).
        calibration_range: bounds of ratio / calibration_ratio.
        position_weight: when the reference is the target's own photo (its L matches the target's where it is
            valid), weight of the cells' positions (fractions of the picture's height and width) in the descriptor:
            a region coloured from the rest of its photo takes the colours of alike content nearby first.
        own_photo_lightness_weight: when the reference is the target's own photo, weight of the lightness statistics
            (against the network's features): within one photo, alike lightness and texture elsewhere is often
            another material (a dark cat's face and a dark cloth below it), which the network's features tell apart.
        same_picture_tolerance: mean |L difference| over the reference's valid pixels under which it counts as the
            target's own photo.
    """

    neighbours: int = 8
    lightness_scale: float = 10.0
    texture_scale: float = 5.0
    network_weight: float = 2.0
    match_temperature: float = 0.1
    match_scale: float = 0.5
    disagreement_weight: float = 30.0
    transfer_variance: float = 10.0
    auto_variance: float = 600.0
    fallback: float = 0.5
    smoothness: float = 0.5
    edge_sigma: float = 6.0
    iterations: int = 60
    tolerance: float = 1e-4
    min_valid: float = 0.5
    max_lightness_ratio: float = 4.0
    chunk: int = 512
    calibration_radius: int = 4
    calibration_queries: int = 128
    calibration_ratio: float = 1.0
    calibration_power: float = 1.0
    calibration_range: tuple[float, float] = (0.25, 4.0)
    position_weight: float = 4.0
    own_photo_lightness_weight: float = 0.125
    same_picture_tolerance: float = 1.0


@dataclass
class TransferResult:
    """What transfer_ab returns, on the cell grid (h, w) = (H / CELL, W / CELL) of the target.

    Attributes:
        ab: (B, 2, h, w) ab in Lab units: the reference's colours where they are trusted, the automatic ones elsewhere.
        confidence: (B, 1, h, w) in [0, 1], the reference's share of each cell's colour.
        auto_ab: (B, 2, h, w) the automatic colours that were the fallback.
        timings: milliseconds per stage: "target network" (the target's features, only with a network: one call
            at the scale it is matched at, and one more at full size when auto_ab is not given and the target is
            matched shrunk), "reference", "descriptors", "calibration", "matching", "spreading".
    """

    ab: torch.Tensor
    confidence: torch.Tensor
    auto_ab: torch.Tensor
    timings: dict[str, float] = field(default_factory=dict)


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[stage] = timings.get(stage, 0.0) + (time.perf_counter() - start) * 1000


def _check_inputs(
    target_l: torch.Tensor,
    reference_lab: torch.Tensor,
    reference_valid: torch.Tensor | None,
    auto_ab: torch.Tensor | None,
    network: nn.Module | None,
    target_cells: torch.Tensor | None,
) -> None:
    if target_l.ndim != 4 or target_l.shape[1] != 1 or target_l.shape[-1] % CELL or target_l.shape[-2] % CELL:
        raise ValueError(
            f"target_l must have shape (B, 1, H, W) with H and W multiples of {CELL}, got {tuple(target_l.shape)}"
        )
    if reference_lab.ndim != 4 or reference_lab.shape[:2] != (1, 3):
        raise ValueError(f"reference_lab must have shape (1, 3, h, w), got {tuple(reference_lab.shape)}")
    if reference_valid is not None and reference_valid.shape != reference_lab.shape[-2:]:
        raise ValueError(
            f"reference_valid must have shape {tuple(reference_lab.shape[-2:])} (reference_lab's h, w), "
            f"got {tuple(reference_valid.shape)}"
        )
    grid = (target_l.shape[0], 2, target_l.shape[-2] // CELL, target_l.shape[-1] // CELL)
    if auto_ab is not None and auto_ab.shape != grid:
        raise ValueError(f"auto_ab must have shape {grid} (target_l's cell grid), got {tuple(auto_ab.shape)}")
    if auto_ab is None and network is None:
        raise ValueError("transfer_ab needs auto_ab or a network to predict it")
    if target_cells is not None and (target_cells.dtype != torch.bool or target_cells.shape != grid[-2:]):
        raise ValueError(f"target_cells must be a bool tensor of shape {grid[-2:]}, got {tuple(target_cells.shape)}")


def _reference_size(reference_size: tuple[int, int], target_size: tuple[int, int]) -> tuple[int, int]:
    """The reference's size with the target's area and its own aspect, sides multiples of NETWORK_MULTIPLE."""
    scale = math.sqrt(target_size[0] * target_size[1] / (reference_size[0] * reference_size[1]))
    return tuple(
        max(MIN_REFERENCE_SIDE, round(side * scale / NETWORK_MULTIPLE) * NETWORK_MULTIPLE) for side in reference_size
    )


def _resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize, antialiased when shrinking: non-negative weights, so masked means stay means of valid pixels."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)


def _reference_scale(reference_size: tuple[int, int], working_size: tuple[int, int]) -> float:
    """sqrt of the reference's area over the working area, at most 1: the scale at which a reference smaller than the
    working size is matched (1: at the working size)."""
    return min(1.0, math.sqrt(reference_size[0] * reference_size[1] / (working_size[0] * working_size[1])))


def _shrunk(l: torch.Tensor, scale: float) -> torch.Tensor:
    """(B, 1, H, W) L -> the same shrunk by `scale` <= 1, sides rounded to multiples of CELL (`l` itself when that
    leaves its size)."""
    size = tuple(max(1, round(side / CELL * scale)) * CELL for side in l.shape[-2:])
    return _resize(l, size)


def _lightness_moments(l: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) L -> (B, 3, H / CELL, W / CELL) cell means of L, L^2 and the Sobel gradient magnitude."""
    gradient = kornia.filters.spatial_gradient(l, mode="sobel", normalized=True)
    gradient = torch.hypot(gradient[:, :, 0], gradient[:, :, 1])  # much faster than .norm(dim=2) on the CPU
    return F.avg_pool2d(torch.cat([l, l.square(), gradient], dim=1), CELL)


def _window_statistics(moments: torch.Tensor) -> torch.Tensor:
    """(B, 3, h, w) cell moments -> (B, 3, len(WINDOWS), h, w) lightness mean, spread and mean gradient magnitude
    over windows of WINDOWS cells a side (clipped at the borders)."""
    statistics = []
    for window in WINDOWS:
        mean, square, gradient = F.avg_pool2d(
            moments, window, stride=1, padding=window // 2, count_include_pad=False
        ).unbind(dim=1)
        statistics.append(torch.stack([mean, (square - mean.square()).clamp_min(0).sqrt(), gradient], dim=1))
    return torch.stack(statistics, dim=2)


def _lightness_descriptors(
    statistics: torch.Tensor, shift: torch.Tensor, ratio: torch.Tensor, settings: TransferSettings
) -> torch.Tensor:
    """(1 or B, 3, len(WINDOWS), h, w) window statistics -> (B, 3 len(WINDOWS), h, w) scaled descriptors: means
    become (mean - shift) * ratio, spreads and gradients are scaled by ratio ((B,) each: Welsh's luminance remapping
    of a reference, shift 0 and ratio 1 for the target itself)."""
    ratio = ratio[:, None, None, None]
    mean = (statistics[:, 0] - shift[:, None, None, None]) * ratio / settings.lightness_scale
    texture = statistics[:, 1:] * ratio[:, None] / settings.texture_scale
    return torch.cat([mean, texture.flatten(1, 2)], dim=1)


def _network_features(network: nn.Module, l: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) L in [0, 100] -> (B, C, H / CELL, W / CELL) the network's features (input padded as it needs)."""
    height, width = l.shape[-2:]
    padded = F.pad(l, (0, -width % NETWORK_MULTIPLE, 0, -height % NETWORK_MULTIPLE), mode="replicate")
    return network.forward_features(normalize_l(padded))[..., : height // CELL, : width // CELL].float()


def _unit(features: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) features -> the same scaled to unit length over C (F.normalize is ~10x slower on the CPU)."""
    return features / features.square().sum(dim=1, keepdim=True).sqrt().clamp_min(torch.finfo(features.dtype).eps)


def _match(
    target: torch.Tensor, reference: torch.Tensor, reference_ab: torch.Tensor, settings: TransferSettings
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N, D) target and (M, D) reference descriptors, (M, 2) reference ab -> per target cell the (N, 2) weighted ab
    of its k nearest reference cells, (N,) their weighted ab variance and (N,) weighted squared distance."""
    k = min(settings.neighbours, reference.shape[0])
    reference_norms = reference.square().sum(dim=1)
    abs_, spreads, distances = [], [], []
    for block in target.split(settings.chunk):
        # |t - r|^2 = |r|^2 - 2 t.r + |t|^2; the last term does not change a row's ranking
        squared, index = torch.addmm(reference_norms, block, reference.T, alpha=-2).topk(k, dim=1, largest=False)
        squared = (squared + block.square().sum(dim=1, keepdim=True)).clamp_min(0)
        weights = torch.softmax(-squared / settings.match_temperature, dim=1)
        neighbour_ab = reference_ab[index]
        ab = (weights[..., None] * neighbour_ab).sum(dim=1)
        abs_.append(ab)
        spreads.append((weights * (neighbour_ab - ab[:, None]).square().sum(dim=-1)).sum(dim=1))
        distances.append((weights * squared).sum(dim=1))
    return torch.cat(abs_), torch.cat(spreads), torch.cat(distances)


def _spread(
    difference: torch.Tensor, share: torch.Tensor, l: torch.Tensor, settings: TransferSettings
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spread (B, 2, h, w) `difference` (transferred minus automatic ab), trusted by (B, 1, h, w) `share` in [0, 1],
    along the lightness edges of (B, 1, h, w) cell L (the module docstring's solve) -> (B, 2, h, w) change to the
    automatic ab and (B, 1, h, w) the reference's final share in [0, 1]."""
    diagonal = share + settings.fallback * (1 - share)
    rhs = share * torch.cat([difference, torch.ones_like(share)], dim=1)
    solution = solve_edge_aware(
        diagonal, rhs, l, settings.edge_sigma, settings.smoothness, settings.tolerance, settings.iterations
    )
    return solution[:, :2], solution[:, 2:].clamp(0, 1)


def _weighted_moments(values: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C) values and (N,) non-negative weights -> (C,) weighted mean and (C,) weighted variance."""
    weights = weights[:, None] / weights.sum().clamp_min(torch.finfo(weights.dtype).tiny)
    mean = (weights * values).sum(dim=0)
    return mean, (weights * (values - mean).square()).sum(dim=0)


def _reference_cells(
    reference_lab: torch.Tensor, reference_valid: torch.Tensor | None, size: tuple[int, int], min_valid: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The reference resized to `size` -> its (1, 3, *size) Lab, (1, 1, *size) valid fraction, (M_all,) bool usable
    cells and the (M, 2) ab of the usable cells, means of valid pixels only."""
    lab = _resize(reference_lab.float(), size)
    valid = torch.ones_like(reference_lab[:, :1]) if reference_valid is None else reference_valid[None, None]
    valid = _resize(valid.to(lab), size)
    cell_valid = F.avg_pool2d(valid, CELL)
    cell_ab = F.avg_pool2d(lab[:, 1:] * valid, CELL) / cell_valid.clamp_min(torch.finfo(lab.dtype).tiny)
    usable = cell_valid.flatten() >= min_valid
    return lab, valid, usable, cell_ab.flatten(2)[0].T[usable]


def _lightness_pair(
    target_l: torch.Tensor, reference_l: torch.Tensor, valid: torch.Tensor, settings: TransferSettings
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 1, H, W) target and (1, 1, h, w) reference L with its valid fraction -> (B, N, D) and (B, M_all, D) lightness
    descriptors of their cells, the reference's remapped to each target's lightness mean and spread (Welsh)."""
    reference_mean, reference_variance = _weighted_moments(reference_l.flatten()[:, None], valid.flatten())
    target_mean, target_spread = target_l.mean(dim=(1, 2, 3)), target_l.std(dim=(1, 2, 3))
    limit = settings.max_lightness_ratio
    ratio = (target_spread / reference_variance.sqrt().clamp_min(1 / limit)).clamp(1 / limit, limit)
    target = _lightness_descriptors(
        _window_statistics(_lightness_moments(target_l)), torch.zeros_like(ratio), torch.ones_like(ratio), settings
    )
    reference = _lightness_descriptors(
        _window_statistics(_lightness_moments(reference_l)), reference_mean - target_mean / ratio, ratio, settings
    )
    return target.flatten(2).transpose(1, 2), reference.flatten(2).transpose(1, 2)


def _for_own_photo(
    target: torch.Tensor,
    reference: torch.Tensor,
    target_l: torch.Tensor,
    reference_l: torch.Tensor,
    valid: torch.Tensor,
    settings: TransferSettings,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, N, D) target and (B, M_all, D) reference lightness descriptors -> both, for the targets whose L is the
    reference's where the reference is valid, i.e. the reference is their own photo (e.g. with a region cut away),
    compared on the target's grid: times own_photo_lightness_weight, with each cell's position appended (its centre
    as a fraction of the picture's height and width, times position_weight); unchanged for the others, with zeros
    appended, which leaves their distances as they were.

    target_l (B, 1, H, W) and reference_l (1, 1, h, w) in [0, 100], valid (1, 1, h, w) in [0, 1]."""
    size = tuple(target_l.shape[-2:])
    weight = _resize(valid, size)
    reference_on_target = _resize(reference_l * valid, size) / weight.clamp_min(torch.finfo(weight.dtype).tiny)
    inside = (weight > 0.99).to(target_l.dtype)  # pixels whose resized value mixes only valid ones
    difference = ((target_l - reference_on_target).abs() * inside).sum(dim=(1, 2, 3)) / inside.sum().clamp_min(1)
    same = (difference <= settings.same_picture_tolerance).to(target.dtype)  # (B,)

    def positions(height: int, width: int) -> torch.Tensor:
        rows, columns = (
            (torch.arange(side, device=target.device, dtype=target.dtype) + 0.5) / side for side in (height, width)
        )
        return torch.stack(torch.meshgrid(rows, columns, indexing="ij")).flatten(1).T * settings.position_weight

    target_yx = same[:, None, None] * positions(size[0] // CELL, size[1] // CELL)
    reference_yx = same[:, None, None] * positions(reference_l.shape[-2] // CELL, reference_l.shape[-1] // CELL)
    lightness = (1 - same * (1 - settings.own_photo_lightness_weight))[:, None, None]
    return torch.cat([target * lightness, target_yx], dim=2), torch.cat([reference * lightness, reference_yx], dim=2)


def _calibration_queries(count: int, settings: TransferSettings, device: torch.device) -> torch.Tensor:
    """The (n,) indices, among `count` usable reference cells, of the calibration_queries cells spread evenly over
    them that the reliability calibration matches."""
    queries = torch.linspace(0, count - 1, min(settings.calibration_queries, count), device=device)
    return queries.round().long().unique()


def _reliability(
    reference: torch.Tensor,
    reference_ab: torch.Tensor,
    queries: torch.Tensor,
    query_auto_ab: torch.Tensor,
    cell_yx: torch.Tensor,
    settings: TransferSettings,
) -> torch.Tensor:
    """How much better than the network transfer colours the reference's own cells, each matched to the rest.

    (B, M, D) reference descriptors, (M, 2) their true ab, the (n,) `_calibration_queries` and (n, 2) the network's
    ab for those cells, (M, 2) cell positions -> (B,) factor on the automatic colour's variance: (automatic error /
    transfer error) / calibration_ratio, clamped to calibration_range, to the calibration_power. Cells within
    calibration_radius cells of the query are left out of its matches (their windows overlap it)."""
    count = reference.shape[1]
    near = (cell_yx[queries, None] - cell_yx[None]).abs().amax(dim=-1) <= settings.calibration_radius
    truth = reference_ab[queries]
    auto_error = (query_auto_ab - truth).square().sum(dim=1).mean()
    factors = []
    for descriptors in reference:
        squared = torch.addmm(descriptors.square().sum(dim=1), descriptors[queries], descriptors.T, alpha=-2)
        squared = squared.masked_fill(near, float("inf"))
        k = min(settings.neighbours, count)
        nearest, index = squared.topk(k, dim=1, largest=False)
        kept = torch.isfinite(nearest).all(dim=1)
        if not kept.any():
            factors.append(torch.ones((), device=reference.device))
            continue
        weights = torch.softmax(-(nearest[kept] - nearest[kept, :1]) / settings.match_temperature, dim=1)
        matched = (weights[..., None] * reference_ab[index[kept]]).sum(dim=1)
        transfer_error = (matched - truth[kept]).square().sum(dim=1).mean()
        ratio = auto_error / transfer_error.clamp_min(1e-3) / settings.calibration_ratio
        factors.append(ratio.clamp(*settings.calibration_range) ** settings.calibration_power)
    return torch.stack(factors)


def _share(
    spread: torch.Tensor,
    distance: torch.Tensor,
    colour_variance: torch.Tensor,
    settings: TransferSettings,
    auto_variance: torch.Tensor | float,
) -> torch.Tensor:
    """Per cell the neighbours' ab variance and squared match distance, and the reference's total ab variance ->
    the reference's share sigma_auto^2 / (sigma_auto^2 + sigma_transfer^2) in (0, 1]."""
    transfer_variance = (
        settings.transfer_variance
        + settings.disagreement_weight * spread
        + distance / settings.match_scale * colour_variance
    )
    return auto_variance / (auto_variance + transfer_variance)


@torch.no_grad()
def transfer_ab(
    target_l: torch.Tensor,
    reference_lab: torch.Tensor,
    reference_valid: torch.Tensor | None = None,
    auto_ab: torch.Tensor | None = None,
    network: nn.Module | None = None,
    temperature: float = ANNEALED_TEMPERATURE,
    settings: TransferSettings = TransferSettings(),
    target_cells: torch.Tensor | None = None,
) -> TransferResult:
    """Colour the target from the reference by correspondence, the network's colours where it holds nothing alike.

    Args:
        target_l: (B, 1, H, W) L in [0, 100] at the network's working size; H, W multiples of CELL.
        reference_lab: (1, 3, h, w) Lab of the reference picture, any size (resized to the target's area, or, when
            smaller than the target, matched at its own scale against the target shrunk to it).
        reference_valid: optional (h, w) bool, the reference pixels that may give colour; others never do.
        auto_ab: optional (B, 2, H / CELL, W / CELL) automatic ab, the fallback. Without it the network predicts it
            from the features the matching uses anyway: pass the network and no auto_ab to pay for one network call.
        network: a colorizer network with forward_features / forward_head (e.g. ResidualCaffeNet); without it cells
            match on lightness statistics alone and auto_ab is needed.
        temperature: annealed-mean temperature of the automatic colours.
        settings: matching and fusion constants.
        target_cells: optional (H / CELL, W / CELL) bool, the cells whose colour is wanted (e.g. a region and its
            seam); only they are matched. The others take no colour of their own, only what the edge-aware
            spreading carries in from matched neighbours. None: every cell.

    Returns:
        TransferResult with ab, confidence and auto_ab on the (H / CELL, W / CELL) grid (upsample ab onto the photo's
        own L, e.g. with color_space.ab_to_rgb).
    """
    _check_inputs(target_l, reference_lab, reference_valid, auto_ab, network, target_cells)
    timings: dict[str, float] = {}
    target_l = target_l.float()
    target_features = None
    if auto_ab is None:
        with _timed(timings, "target network"):
            target_features = _network_features(network, target_l)
            auto_ab = annealed_mean(network.forward_head(target_features).float(), network.ab_bins, temperature)
    auto_ab = auto_ab.float()

    with _timed(timings, "reference"):
        scale = _reference_scale(tuple(reference_lab.shape[-2:]), tuple(target_l.shape[-2:]))
        match_l = _shrunk(target_l, scale)  # a smaller reference is not enlarged: the target is matched at its scale
        size = _reference_size(tuple(reference_lab.shape[-2:]), tuple(match_l.shape[-2:]))
        lab, valid, usable, reference_ab = _reference_cells(reference_lab, reference_valid, size, settings.min_valid)
        if not usable.any():
            return TransferResult(auto_ab, torch.zeros_like(auto_ab[:, :1]), auto_ab, timings)
        if network is not None:
            raw_reference_features = _network_features(network, lab[:, :1])
            reference_features = _unit(raw_reference_features).flatten(2)[0].T[usable]

    if network is not None and (target_features is None or match_l is not target_l):
        with _timed(timings, "target network"):  # the features of what is matched, computed once
            target_features = _network_features(network, match_l)

    with _timed(timings, "descriptors"):
        target_descriptors, reference_descriptors = _lightness_pair(match_l, lab[:, :1], valid, settings)
        target_descriptors, reference_descriptors = _for_own_photo(
            target_descriptors, reference_descriptors, match_l, lab[:, :1], valid, settings
        )
        reference_descriptors = reference_descriptors[:, usable]
        if network is not None:
            target_features = _unit(target_features).flatten(2).transpose(1, 2)
            target_descriptors = torch.cat([target_descriptors, target_features * settings.network_weight], dim=2)
            reference_features = (reference_features * settings.network_weight).expand(target_l.shape[0], -1, -1)
            reference_descriptors = torch.cat([reference_descriptors, reference_features], dim=2)

    auto_variance = torch.full((target_l.shape[0], 1), settings.auto_variance, device=auto_ab.device)
    if network is not None and settings.calibration_radius > 0:
        with _timed(timings, "calibration"):
            queries = _calibration_queries(len(reference_ab), settings, auto_ab.device)
            query_features = raw_reference_features.flatten(2)[0].T[usable][queries]  # (n, C)
            # the head maps each cell's features alone (a 1x1 convolution): only the queried cells are needed
            logits = network.forward_head(query_features.T[None, :, :, None]).float()  # (1, Q, n, 1)
            query_auto_ab = annealed_mean(logits, network.ab_bins, temperature)[0, :, :, 0].T
            grid = raw_reference_features.shape[-2:]
            rows, columns = (torch.arange(side, device=auto_ab.device) for side in grid)
            cell_yx = torch.stack(torch.meshgrid(rows, columns, indexing="ij"))
            cell_yx = cell_yx.flatten(1).T[usable]
            reliability = _reliability(reference_descriptors, reference_ab, queries, query_auto_ab, cell_yx, settings)
            auto_variance = auto_variance * reliability[:, None]

    with _timed(timings, "matching"):
        cells, match_cells = auto_ab.shape[-2:], torch.Size(side // CELL for side in match_l.shape[-2:])
        wanted_cells = torch.ones(cells, dtype=torch.bool, device=auto_ab.device)
        if target_cells is not None:
            wanted_cells = target_cells.to(auto_ab.device)
        # the match grid's cells that touch a wanted cell of the target's grid (the same grid at scale 1)
        wanted = F.adaptive_max_pool2d(wanted_cells[None].float(), tuple(match_cells))[0].flatten() > 0
        matches = [
            _match(t[wanted], r, reference_ab, settings) for t, r in zip(target_descriptors, reference_descriptors)
        ]
        matched_ab, spread, distance = (torch.stack(parts) for parts in zip(*matches))
        _, colour_variance = _weighted_moments(reference_ab, torch.ones_like(reference_ab[:, 0]))
        match_auto_ab = _resize(auto_ab, tuple(match_cells)).flatten(2).transpose(1, 2)  # (B, h w, 2)
        difference = torch.zeros_like(match_auto_ab)  # cells not matched: no difference
        difference[:, wanted] = matched_ab - match_auto_ab[:, wanted]
        share = torch.zeros_like(match_auto_ab[..., 0])
        share[:, wanted] = _share(spread, distance, colour_variance.sum(), settings, auto_variance)
        difference = _resize(difference.transpose(1, 2).reshape(-1, 2, *match_cells), tuple(cells))
        share = _resize(share.reshape(-1, 1, *match_cells), tuple(cells)) * wanted_cells

    with _timed(timings, "spreading"):
        change, confidence = _spread(difference, share, F.avg_pool2d(target_l, CELL), settings)
    return TransferResult(auto_ab + change, confidence, auto_ab, timings)
