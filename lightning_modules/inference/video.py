"""Colouring a clip frame after frame so that colours stay put: `VideoColorizer`.

Each frame's L is coloured by the network at its working size, like a photo. Then the previous frame's output
colours are moved onto the current frame along the optical flow between the two frames' L (`optical_flow`) and
blended with the network's:

    ab_t = w * warp(ab_{t-1}) + (1 - w) * network_ab_t,   w = carry * exp(-e^2 / (2 error_sigma^2)),

where e is the photometric error of the warped L (lightly blurred): where the flow explains the frame the colours
carry over, where it does not (occlusion, new content at the border, a moving object the flow missed) the
network's colour comes through. A scene cut (mean |delta L| between the two frames at CUT_SIDE px, or the warped
error, above a threshold) restarts: the frame after a cut takes the network's colours alone. The blended ab is put
onto each frame's full-resolution L as for a photo (`color_space.ab_to_rgb`), so L is kept exactly, and rounded to
8 bits by `color_space.to_uint8_nearest` (of the 8 ways to round a pixel's channels down or up, the one nearest in
Lab): rounding each channel on its own leaves ab noise that changes from frame to frame as texture moves.

Optional guidance (e.g. reference pictures, `guided.video_references`) replaces the network's colours of each frame
before the blend, and restarts the clip where it changes.

Shapes: frames (3, H, W) uint8 RGB; small L (B, 1, S, S) in [0, 100] (S = `Colorizer.size`); ab (B, 2, S/4, S/4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F

from pseudocolor.datamodules.color_space import ab_to_rgb, in_strips, resize_ab, to_uint8_nearest, uint8_lightness
from pseudocolor.lightning_modules.inference.colorizer import Colorizer
from pseudocolor.lightning_modules.inference.optical_flow import (
    FlowSettings,
    estimate_flow,
    resize_flow,
    sample_grid,
    warp,
)

CUT_SIDE = 16  # px: frames are compared at this size to find scene cuts
# pixels per strip of the 8-bit rounding, small enough for its eight-way temporaries to stay in the CPU's cache
# (8 frames of 320 x 240: 82 ms in such strips, 107 ms in STRIP_PIXELS ones)
ROUNDING_STRIP_PIXELS = 1 << 17


@dataclass(frozen=True)
class ConsistencySettings:
    """How `VideoColorizer` carries colours from frame to frame.

    Attributes:
        carry: largest share of the previous frame's (warped) colours in a frame's colours; 0 colours each frame
            alone. 0.85 (0.95 before the width-0.75 model shipped): that model's colours change more from frame to
            frame, and carrying 0.95 of them cost one bundled-photo clip 0.28 dB against colouring each frame alone.
        flow_side: side (px) of the square grid, over the network's working size, on which the flow and its error are
            computed.
        error_sigma: warped-L error (L units) at which the carried share falls to e^-1/2 of `carry`.
        error_blur: side (px of the flow grid, odd) of the box blur of L before the error is taken (bilinear warping
            of fine texture is not an error of the flow).
        cut_change: mean |delta L| (L units) between consecutive frames at CUT_SIDE px above which a scene cut is
            declared.
        cut_error: mean warped-L error (L units) on the flow grid above which a scene cut is declared.
        flow: the optical flow's settings.
    """

    carry: float = 0.85
    flow_side: int = 64
    error_sigma: float = 6.0
    error_blur: int = 3
    cut_change: float = 10.0
    cut_error: float = 4.0
    flow: FlowSettings = field(default_factory=FlowSettings)


class FrameGuide(Protocol):
    """What guides a clip's colours besides the network (e.g. reference pictures from keyframes on)."""

    def starts(self) -> Sequence[int]:
        """Frame indices at which the guidance changes: the clip restarts there."""
        ...

    def ab(self, first_index: int, small_l: torch.Tensor, auto_ab: torch.Tensor) -> torch.Tensor:
        """Frames `first_index`... as (B, 1, S, S) L and their network (B, 2, S/4, S/4) ab -> the guided ab."""
        ...


@dataclass
class FrameStats:
    """What happened at one frame: whether the clip restarted there (first frame, cut or guide change), the mean
    |delta L| at CUT_SIDE px and the mean warped-L error (NaN at a restart that had no previous frame)."""

    restarted: bool
    change: float
    error: float


class VideoColorizer:
    """Colours the frames of one clip in order, carrying colours along the motion (module docstring).

    Args:
        colorizer: the photo colorizer whose network colours each frame.
        settings: how colours carry over; `ConsistencySettings(carry=0)` colours each frame alone.
        guide: optional guidance of the frames' colours.
        record_stats: keep a FrameStats per frame in `stats` (for measuring; a list that grows with the clip).

    Feed the frames in order, in batches of any size (`colorize_frames` or `small_ab`); `reset` before another clip.
    Memory does not grow with the clip: only the last frame's L and colours are kept, and `cuts`.
    """

    def __init__(
        self,
        colorizer: Colorizer,
        settings: ConsistencySettings = ConsistencySettings(),
        guide: FrameGuide | None = None,
        record_stats: bool = False,
    ) -> None:
        if not 0 <= settings.carry < 1:
            raise ValueError(f"carry must be in [0, 1), got {settings.carry}")
        self.colorizer = colorizer
        self.settings = settings
        self.guide = guide
        self.record_stats = record_stats
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame and the per-frame stats: the next frame starts a clip."""
        self.frames_seen = 0
        self.stats: list[FrameStats] = []
        self.cuts: list[int] = []  # frames past the first at which the clip restarted (scene cut or guide change)
        self._previous_l: torch.Tensor | None = None  # (1, 1, flow_side, flow_side)
        self._previous_ab: torch.Tensor | None = None  # (1, 2, S/4, S/4)

    def _flow_l(self, small_l: torch.Tensor) -> torch.Tensor:
        side = self.settings.flow_side
        return F.adaptive_avg_pool2d(small_l, (side, side))

    def _blurred(self, l: torch.Tensor) -> torch.Tensor:
        blur = self.settings.error_blur
        return F.avg_pool2d(l, blur, stride=1, padding=blur // 2, count_include_pad=False) if blur > 1 else l

    @torch.no_grad()
    def small_ab(self, small_l: torch.Tensor) -> torch.Tensor:
        """The next B frames' (B, 1, S, S) L in [0, 100] (what `Colorizer.network_l` gives) -> their (B, 2, S/4, S/4)
        consistent ab, in Lab units."""
        if small_l.ndim != 4 or small_l.shape[1] != 1:
            raise ValueError(f"small_l must have shape (B, 1, S, S), got {tuple(small_l.shape)}")
        small_l = small_l.to(self.colorizer.device, torch.float32)
        first = self.frames_seen
        target = self.colorizer.predict_small_ab(small_l)
        if self.guide is not None:
            target = self.guide.ab(first, small_l, target)
        settings = self.settings
        flow_l = self._flow_l(small_l)
        previous_l = flow_l[:-1] if self._previous_l is None else torch.cat([self._previous_l, flow_l[:-1]])
        current_l = flow_l if self._previous_l is not None else flow_l[1:]
        starts = set(self.guide.starts()) if self.guide is not None else set()

        out = []
        if settings.carry > 0 and len(current_l):
            coarse = (CUT_SIDE, CUT_SIDE)
            change = (F.adaptive_avg_pool2d(previous_l, coarse) - F.adaptive_avg_pool2d(current_l, coarse)).abs()
            change = change.mean(dim=(1, 2, 3))
            flows = estimate_flow(previous_l, current_l, settings.flow)
            _, inside = sample_grid(flows)
            error = (self._blurred(warp(previous_l, flows)) - self._blurred(current_l)).abs()
            mean_error = (error * inside).sum(dim=(1, 2, 3)) / inside.sum(dim=(1, 2, 3)).clamp(min=1)
            confidence = torch.exp(-(error**2) / (2 * settings.error_sigma**2)) * inside
            grid = tuple(target.shape[-2:])
            confidence = F.adaptive_avg_pool2d(confidence, grid)
            ab_flows = resize_flow(flows, grid)
        offset = 0 if self._previous_l is not None else 1  # pair index of frame i: i - offset
        for i in range(small_l.shape[0]):
            index = first + i
            pair = i - offset
            if pair < 0 or settings.carry == 0 or self._previous_ab is None:
                restarted = pair < 0 or self._previous_ab is None
                stat = FrameStats(restarted, float("nan"), float("nan"))
            else:
                cut_change, cut_error = change[pair].item(), mean_error[pair].item()
                restarted = index in starts or cut_change > settings.cut_change or cut_error > settings.cut_error
                stat = FrameStats(restarted, cut_change, cut_error)
            if restarted or settings.carry == 0:
                ab = target[i : i + 1]
            else:
                weight = settings.carry * confidence[pair : pair + 1]
                carried = warp(self._previous_ab, ab_flows[pair : pair + 1])
                ab = weight * carried + (1 - weight) * target[i : i + 1]
            out.append(ab)
            if stat.restarted and index > 0:
                self.cuts.append(index)
            if self.record_stats:
                self.stats.append(stat)
            self._previous_ab = ab
        self._previous_l = flow_l[-1:]
        self.frames_seen += small_l.shape[0]
        return torch.cat(out)

    @torch.no_grad()
    def colorize_frames(self, frames: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The next frames of the clip, each (3, H, W) uint8 RGB of one size -> (3, H, W) uint8 RGB each, whose L is
        the frame's."""
        if not frames:
            return []
        size = tuple(frames[0].shape)
        for frame in frames:
            if frame.ndim != 3 or frame.shape[0] != 3 or frame.dtype != torch.uint8 or tuple(frame.shape) != size:
                raise ValueError(f"frames must be (3, H, W) uint8 of one size, got {tuple(frame.shape)} {frame.dtype}")
        device = self.colorizer.device
        rgb = torch.stack(list(frames)).to(device)
        l = in_strips(uint8_lightness, rgb)
        del rgb
        ab = self.small_ab(self.colorizer.network_l(l))
        coloured = in_strips(
            lambda l, ab: to_uint8_nearest(ab_to_rgb(l, ab), torch.cat([l, ab], dim=1)),
            l,
            resize_ab(ab, l.shape[-2:]),
            strip_pixels=ROUNDING_STRIP_PIXELS,
        )
        return list(coloured.unbind(0))
