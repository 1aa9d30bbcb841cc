"""The paper's residual CaffeNet colorizer.

CaffeNet's five stages (widths 96-256-384-384-256) with the 11x11/stride-4 and 5x5 kernels replaced
by stacks of 3x3 convolutions, residual blocks, average pooling for downsampling and a bias after
every convolution; a light decoder brings the features back to 1/4 of the input size, where a 1x1
head predicts a distribution over the Q in-gamut ab bins.

Hint inputs (Zhang et al. SIGGRAPH17): a local hint map (sparse ab points plus their mask) is
concatenated with L; a global hint vector (ab histogram over the bins plus mean saturation) is
projected and added to the deepest features. All-zero hints mean automatic colouring.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pseudocolor.lightning_modules.ab_encoding import AB_GRID, gamut_ab_bins
from pseudocolor.lightning_modules.networks.blocks import ConvBNReLU, ResidualBlock, UpFuse

CAFFENET_WIDTHS = (96, 256, 384, 384, 256)
LOCAL_HINT_CHANNELS = 3  # a, b (normalised) and the hint mask
DOWNSAMPLING = 16  # input sides must be multiples of this; other sizes are padded


def _scaled(width: int, multiplier: float) -> int:
    return max(8, int(round(width * multiplier / 8)) * 8)


class ResidualCaffeNet(nn.Module):
    """L (+ hints) -> logits over the ab bins at 1/4 resolution.

    Args:
        width_multiplier: scales every stage width (0.5 gives a network about 4x cheaper).
        ab_grid: spacing of the ab bin grid; the in-gamut cells are the output classes.
        hints: accept local and global hint inputs.
    """

    def __init__(self, width_multiplier: float = 1.0, ab_grid: float = AB_GRID, hints: bool = True) -> None:
        super().__init__()
        self.width_multiplier = width_multiplier
        self.ab_grid = ab_grid
        self.hints = hints
        self.register_buffer("ab_bins", gamut_ab_bins(ab_grid))
        num_bins = self.ab_bins.shape[0]
        w1, w2, w3, w4, w5 = (_scaled(w, width_multiplier) for w in CAFFENET_WIDTHS)
        in_channels = 1 + (LOCAL_HINT_CHANNELS if hints else 0)
        self.stem = nn.Sequential(  # replaces conv1 11x11 stride 4
            ConvBNReLU(in_channels, w1 // 2, stride=2),
            ConvBNReLU(w1 // 2, w1 // 2),
            ConvBNReLU(w1 // 2, w1, stride=2),
        )
        self.stage1 = ResidualBlock(w1, w1)
        self.stage2 = nn.Sequential(nn.AvgPool2d(2), ResidualBlock(w1, w2))  # replaces conv2 5x5
        self.stage3 = nn.Sequential(nn.AvgPool2d(2), ResidualBlock(w2, w3))
        self.stage4 = ResidualBlock(w3, w4, dilation=2)
        self.stage5 = ResidualBlock(w4, w5, dilation=2)
        self.global_hint = nn.Linear(num_bins + 1, w3) if hints else None
        self.decode8 = UpFuse(w5, w2)
        self.decode4 = UpFuse(w2, w1)
        self.head = nn.Conv2d(w1, num_bins, 1)

    @property
    def num_bins(self) -> int:
        return self.ab_bins.shape[0]

    @property
    def takes_hints(self) -> bool:
        return self.hints

    def config(self) -> dict:
        """Plain constructor arguments: rebuild with `ResidualCaffeNet(**config)`."""
        return {"width_multiplier": self.width_multiplier, "ab_grid": self.ab_grid, "hints": self.hints}

    def forward_features(
        self,
        l: torch.Tensor,
        local_hints: torch.Tensor | None = None,
        global_hint: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, 1, H, W) normalised L in [-1, 1], optional (B, 3, H, W) local hints and (B, Q + 1)
        global hint -> (B, C, H/4, W/4) features. H and W must be multiples of 16."""
        if l.ndim != 4 or l.shape[1] != 1:
            raise ValueError(f"l must have shape (B, 1, H, W), got {tuple(l.shape)}")
        if self.hints:
            if local_hints is None:
                local_hints = l.new_zeros(l.shape[0], LOCAL_HINT_CHANNELS, *l.shape[-2:])
            l = torch.cat([l, local_hints.to(l)], dim=1)
        x1 = self.stage1(self.stem(l))
        x2 = self.stage2(x1)
        x3 = self.stage3(x2)
        if self.global_hint is not None:
            if global_hint is None:  # the same as an all-zero hint, the "dropped" case of training
                global_hint = x3.new_zeros(x3.shape[0], self.global_hint.in_features)
            x3 = x3 + self.global_hint(global_hint.to(x3))[:, :, None, None]
        x5 = self.stage5(self.stage4(x3))
        return self.decode4(self.decode8(x5, x2), x1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, Q, h, w) logits."""
        return self.head(features)

    def forward(
        self,
        l: torch.Tensor,
        local_hints: torch.Tensor | None = None,
        global_hint: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, 1, H, W) normalised L -> (B, Q, ceil(H/4), ceil(W/4)) logits; any H, W (padded inside)."""
        height, width = l.shape[-2:]
        # Padding without a shape branch, and telling torch.export the result divides by 16, lets the
        # ONNX export keep H and W dynamic.
        pad_h = (DOWNSAMPLING - height % DOWNSAMPLING) % DOWNSAMPLING
        pad_w = (DOWNSAMPLING - width % DOWNSAMPLING) % DOWNSAMPLING
        l = F.pad(l, (0, pad_w, 0, pad_h), mode="replicate")
        torch._check(l.shape[-2] % DOWNSAMPLING == 0)
        torch._check(l.shape[-1] % DOWNSAMPLING == 0)
        if local_hints is not None:
            local_hints = F.pad(local_hints, (0, pad_w, 0, pad_h))
        logits = self.forward_head(self.forward_features(l, local_hints, global_hint))
        return logits[..., : (height + 3) // 4, : (width + 3) // 4]
