"""Inference: a trained network plus the few settings needed to colour photos of any size.

Weights are only ever read with `torch.load(weights_only=True)`: a state dict plus a plain config,
never pickled objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from pseudocolor.datamodules.color_space import ab_to_rgb, ab_to_uint8, rgb_to_lab, to_uint8, uint8_to_l
from pseudocolor.datamodules.decoding import image_to_rgb
from pseudocolor.lightning_modules.ab_encoding import ANNEALED_TEMPERATURE
from pseudocolor.lightning_modules.inference.model_spec import PRETRAINED, load_spec
from pseudocolor.lightning_modules.inference.prediction import predict_ab
from pseudocolor.lightning_modules.inference.weights import DEFAULT_NETWORK_SIZE, save_network
from pseudocolor.lightning_modules.networks.protocol import require_hints
from pseudocolor.lightning_modules.propagation.hint_spreading import spread_hints

ImageLike = TypeVar("ImageLike", Image.Image, np.ndarray, torch.Tensor)


class Colorizer:
    """Colours RGB or grey photos: L is kept at full resolution, ab is predicted at `size` x `size`.

    Args:
        network: a registered network (e.g. ResidualCaffeNet) with trained weights.
        temperature: annealed-mean temperature.
        chroma_gain: factor on the decoded ab (see `prediction.predict_ab`); weights files carry their own.
        size: side of the square the network sees (the photo is resized to it, colour upsampled back).
        spread_hints: spread point hints' colours along lightness edges after the network
            (`hint_spreading.spread_hints`); False leaves point hints to the network alone.

    The network's weights are put in channels-last memory format (in place): its convolutions then run about 20 %
    faster on the CPU, and its logits come out with each pixel's bins side by side, the layout the annealed mean
    reads fastest (`ab_encoding.annealed_mean`).
    """

    def __init__(
        self,
        network: nn.Module,
        temperature: float = ANNEALED_TEMPERATURE,
        size: int = DEFAULT_NETWORK_SIZE,
        spread_hints: bool = True,
        chroma_gain: float = 1.0,
    ) -> None:
        self.network = network.eval().to(memory_format=torch.channels_last)
        self.temperature = temperature
        self.chroma_gain = chroma_gain
        self.size = size
        self.spread_hints = spread_hints

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def to(self, device: str | torch.device) -> Colorizer:
        self.network.to(device)
        return self

    # ---------------------------------------------------------------- loading and saving
    @classmethod
    def load(
        cls,
        spec: str | Path = PRETRAINED,
        device: str | torch.device = "cpu",
        tracking_uri: str | None = None,
        spread_hints: bool = True,
    ) -> Colorizer:
        """A Colorizer on `device` from a model spec: `pretrained` (the default: the model shipped in the package),
        a .ckpt or exported weights file, `models:/NAME@ALIAS`, `models:/NAME/VERSION` or `runs:/RUN_ID/PATH`
        (see `model_spec`). Raises ModelLoadError naming SPEC."""
        loaded = load_spec(spec, tracking_uri)
        return cls(loaded.network, loaded.temperature, loaded.size, spread_hints, loaded.chroma_gain).to(device)

    def save_weights(self, path: str | Path, half: bool = True) -> Path:
        """Write the network as a plain state dict (fp16 when `half`) with its config and decoding settings."""
        return save_network(path, self.network, self.temperature, self.size, half, self.chroma_gain)

    # ---------------------------------------------------------------- colouring
    def network_l(self, l: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) L -> (B, 1, size, size), antialiased: what the network sees."""
        return F.interpolate(l, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)

    @torch.no_grad()
    def predict_small_ab(
        self, small_l: torch.Tensor, local_hints: torch.Tensor | None = None, global_hint: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, 1, size, size) L in [0, 100] on the device -> (B, 2, size/4, size/4) ab (Lab units), point hints
        spread when `spread_hints`. `ab_to_rgb(l, ab)` puts it onto the photo's full-resolution L."""
        if local_hints is not None or global_hint is not None:
            require_hints(self.network, "colouring with hints or a reference")
        ab = predict_ab(self.network, small_l, local_hints, global_hint, self.temperature, self.chroma_gain).float()
        if self.spread_hints and local_hints is not None:
            ab = spread_hints(ab, small_l, local_hints.to(ab.device))
        return ab

    @torch.no_grad()
    def colorize_l(
        self, l: torch.Tensor, local_hints: torch.Tensor | None = None, global_hint: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, 1, H, W) L in [0, 100] -> (B, 3, H, W) RGB in [0, 1] whose L is the given one.

        `local_hints` (B, 3, size, size) and `global_hint` (B, Q + 1) are in the network's hint format.
        """
        if l.ndim != 4 or l.shape[1] != 1:
            raise ValueError(f"l must have shape (B, 1, H, W), got {tuple(l.shape)}")
        l = l.to(self.device, torch.float32)
        return ab_to_rgb(l, self.predict_small_ab(self.network_l(l), local_hints, global_hint))

    @torch.no_grad()
    def colorize_rgb(self, rgb: torch.Tensor, **hints) -> torch.Tensor:
        """(B, 3, H, W) RGB (or grey replicated) in [0, 1] -> (B, 3, H, W) RGB in [0, 1], same L."""
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise ValueError(f"rgb must have shape (B, 3, H, W), got {tuple(rgb.shape)}")
        return self.colorize_l(rgb_to_lab(rgb.to(self.device, torch.float32))[:, :1], **hints)

    @torch.no_grad()
    def colorize_batch(self, images: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Photos of different sizes, each (3, H, W) uint8 RGB -> (3, H, W) uint8 RGB each, same L.

        The network sees them as one batch at `size` x `size` (callers bound the batch: the served model passes
        at most CHUNK_ROWS); each colour map is upsampled onto its photo's full-resolution L, in strips, so a photo
        needs about 24 bytes a pixel beyond its own (see `color_space.ab_to_uint8`).
        """
        for image in images:
            if image.ndim != 3 or image.shape[0] != 3 or image.dtype != torch.uint8:
                raise ValueError(f"images must be (3, H, W) uint8, got {tuple(image.shape)} {image.dtype}")
        if not images:
            return []
        ls = [uint8_to_l(image, self.device) for image in images]
        small_ab = self.predict_small_ab(torch.cat([self.network_l(l) for l in ls]))
        return [ab_to_uint8(l, small_ab[i : i + 1]) for i, l in enumerate(ls)]

    def colorize(self, image: ImageLike) -> ImageLike:
        """Colour one photo, returned as the same kind it came in, at its full size, with its L:

        - PIL image of any mode -> RGB PIL image (EXIF orientation applied);
        - numpy uint8 (H, W) or (H, W, 3) -> (H, W, 3) uint8;
        - tensor (3, H, W) or (B, 3, H, W) (or 1 channel), uint8 or float in [0, 1] -> same shape with
          3 channels, same dtype and device.
        """
        if isinstance(image, Image.Image):
            return Image.fromarray(self.colorize_batch([image_to_rgb(image)])[0].permute(1, 2, 0).cpu().numpy())
        if isinstance(image, np.ndarray):
            if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
                raise ValueError(f"numpy images must be uint8 (H, W) or (H, W, 3), got {image.shape} {image.dtype}")
            rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
            colored = self.colorize_batch([torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)])[0]
            return colored.permute(1, 2, 0).cpu().numpy()
        if isinstance(image, torch.Tensor):
            return self._colorize_tensor(image)
        raise TypeError(f"colorize takes a PIL image, numpy array or tensor, got {type(image).__name__}")

    def _colorize_tensor(self, image: torch.Tensor) -> torch.Tensor:
        batch = image if image.ndim == 4 else image[None]
        if image.ndim not in (3, 4) or batch.shape[1] not in (1, 3):
            raise ValueError(f"tensor images must be (C, H, W) or (B, C, H, W) with C 1 or 3, got {tuple(image.shape)}")
        rgb = batch.expand(-1, 3, -1, -1).float()
        if image.dtype == torch.uint8:
            out = to_uint8(self.colorize_rgb(rgb / 255))
        else:
            out = self.colorize_rgb(rgb).to(image.dtype)
        out = out.to(image.device)
        return out if image.ndim == 4 else out[0]
