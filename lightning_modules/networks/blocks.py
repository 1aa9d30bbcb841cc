"""Building blocks shared by the networks: 3x3 convolutions with a bias, BatchNorm and ReLU."""

from __future__ import annotations

import torch
from torch import nn


class ConvBNReLU(nn.Sequential):
    """3x3 convolution (with bias, as in the paper) -> BatchNorm -> ReLU. (B, Cin, H, W) -> (B, Cout, H/s, W/s)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=dilation, dilation=dilation),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a skip connection (a 1x1 projection when widths differ).

    (B, Cin, H, W) -> (B, Cout, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = ConvBNReLU(in_channels, out_channels, dilation=dilation)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=dilation, dilation=dilation)
        self.norm2 = nn.BatchNorm2d(out_channels)
        self.shortcut = (
            nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.shortcut(x) + self.norm2(self.conv2(self.conv1(x))))


class UpFuse(nn.Module):
    """Decoder step: project, upsample x2 and add a skip feature map, then a residual block.

    (B, Cin, H, W) and skip (B, Cout, 2H, 2W) -> (B, Cout, 2H, 2W).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.project = nn.Conv2d(in_channels, out_channels, 1)
        self.upsample = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.block = ResidualBlock(out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.block(self.upsample(self.project(x)) + skip)
