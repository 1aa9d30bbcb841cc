"""The ECCV16 colorizer's shape (Zhang, Isola, Efros 2016), as a reference for speed and quality.

VGG-like: eight blocks of 3x3 convolutions (64-128-256-512-512-512-512-256 channels), stride-2
downsampling ending at 1/8, blocks 5 and 6 dilated by 2, a stride-2 transposed convolution back to
1/4 and a 1x1 head over the ab bins. BatchNorm ends each of blocks 1-7, as in the released model.
The head predicts this project's in-gamut bins (257 at grid 10; the paper's 313 are the bins seen
in ImageNet), a difference of under 0.1% in FLOPs. About 32M parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from pseudocolor.lightning_modules.ab_encoding import AB_GRID, gamut_ab_bins

# (output channels, convolutions, stride of the last one, dilation) of blocks 1-7.
BLOCKS = ((64, 2, 2, 1), (128, 2, 2, 1), (256, 3, 2, 1), (512, 3, 1, 1), (512, 3, 1, 2), (512, 3, 1, 2), (512, 3, 1, 1))
DECODER_WIDTH = 256


def _block(in_channels: int, out_channels: int, convs: int, stride: int, dilation: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index in range(convs):
        last = index == convs - 1
        layers += [
            nn.Conv2d(in_channels, out_channels, 3, stride=stride if last else 1, padding=dilation, dilation=dilation),
            nn.ReLU(inplace=True),
        ]
        in_channels = out_channels
    return nn.Sequential(*layers, nn.BatchNorm2d(out_channels))


class ECCV16Net(nn.Module):
    """(B, 1, H, W) normalised L in [-1, 1] -> (B, Q, H/4, W/4) logits; H and W multiples of 8.

    Args:
        ab_grid: spacing of the ab bin grid; the in-gamut cells are the output classes.
    """

    def __init__(self, ab_grid: float = AB_GRID) -> None:
        super().__init__()
        self.ab_grid = ab_grid
        self.register_buffer("ab_bins", gamut_ab_bins(ab_grid))
        blocks, in_channels = [], 1
        for out_channels, convs, stride, dilation in BLOCKS:
            blocks.append(_block(in_channels, out_channels, convs, stride, dilation))
            in_channels = out_channels
        self.encoder = nn.Sequential(*blocks)
        self.decoder = nn.Sequential(  # block 8
            nn.ConvTranspose2d(in_channels, DECODER_WIDTH, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(DECODER_WIDTH, DECODER_WIDTH, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(DECODER_WIDTH, DECODER_WIDTH, 3, padding=1),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Conv2d(DECODER_WIDTH, self.ab_bins.shape[0], 1)

    @property
    def num_bins(self) -> int:
        return self.ab_bins.shape[0]

    @property
    def takes_hints(self) -> bool:
        return False

    def config(self) -> dict:
        """Plain constructor arguments: rebuild with `ECCV16Net(**config)`."""
        return {"ab_grid": self.ab_grid}

    def forward_features(self, l: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) normalised L -> (B, 256, H/4, W/4) features."""
        if l.ndim != 4 or l.shape[1] != 1 or l.shape[-1] % 8 or l.shape[-2] % 8:
            raise ValueError(f"l must have shape (B, 1, H, W) with H and W multiples of 8, got {tuple(l.shape)}")
        return self.decoder(self.encoder(l))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, 256, h, w) -> (B, Q, h, w) logits."""
        return self.head(features)

    def forward(
        self, l: torch.Tensor, local_hints: torch.Tensor | None = None, global_hint: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, 1, H, W) normalised L -> (B, Q, H/4, W/4) logits. The ECCV16 net takes no hints."""
        if local_hints is not None or global_hint is not None:
            raise ValueError("ECCV16Net colours automatically only; it takes no local or global hints")
        return self.forward_head(self.forward_features(l))
