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

from datamodules.decoding import image_to_rgb
from lightning_modules.color import ANNEALED_TEMPERATURE, compose_lab, lab_to_rgb_keep_l, rgb_to_lab, to_uint8
from lightning_modules.hint_spreading import spread_hints
from lightning_modules.networks import build_network, network_name
from lightning_modules.prediction import predict_ab

WEIGHTS_FORMAT = "pseudocolor-weights/1"
DEFAULT_NETWORK_SIZE = 256
ImageLike = TypeVar("ImageLike", Image.Image, np.ndarray, torch.Tensor)


class ModelLoadError(ValueError):
    """A model file or spec that cannot be loaded; the message names it and what to do."""


class Colorizer:
    """Colours RGB or grey photos: L is kept at full resolution, ab is predicted at `size` x `size`.

    Args:
        network: a registered network (e.g. ResidualCaffeNet) with trained weights.
        temperature: annealed-mean temperature.
        size: side of the square the network sees (the photo is resized to it, colour upsampled back).
        spread_hints: spread point hints' colours along lightness edges after the network
            (`hint_spreading.spread_hints`); False leaves point hints to the network alone.
    """

    def __init__(
        self,
        network: nn.Module,
        temperature: float = ANNEALED_TEMPERATURE,
        size: int = DEFAULT_NETWORK_SIZE,
        spread_hints: bool = True,
    ) -> None:
        self.network = network.eval()
        self.temperature = temperature
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
    def from_file(cls, path: str | Path, map_location: str | torch.device = "cpu") -> Colorizer:
        """Load a Lightning checkpoint (.ckpt) or an exported weights file (see `save_weights`)."""
        path = Path(path)
        if not path.is_file():
            raise ModelLoadError(f"{path}: model file not found; pass a .ckpt or exported weights file")
        try:
            payload = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unpickling failure means "not our format"
            raise ModelLoadError(f"{path}: not a loadable weights file ({error}); export it with `pseudocolor export`") from error
        if not isinstance(payload, dict) or "network" not in payload or "state_dict" not in payload:
            raise ModelLoadError(f"{path}: holds no pseudocolor network config; was it written by pseudocolor?")
        state_dict = payload["state_dict"]
        if payload.get("format") == WEIGHTS_FORMAT:
            temperature = payload.get("temperature", ANNEALED_TEMPERATURE)
        else:  # a Lightning checkpoint of ColorizationModule
            state_dict = {k.removeprefix("network."): v for k, v in state_dict.items() if k.startswith("network.")}
            temperature = payload.get("hyper_parameters", {}).get("temperature", ANNEALED_TEMPERATURE)
        network = build_network(payload["network"]["name"], **payload["network"]["config"])
        network.load_state_dict({k: v.float() for k, v in state_dict.items()})
        return cls(network, temperature=temperature, size=payload.get("size", DEFAULT_NETWORK_SIZE))

    def save_weights(self, path: str | Path, half: bool = True) -> Path:
        """Write the network as a plain state dict (fp16 when `half`) with its config."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state_dict = {k: (v.half() if half and v.is_floating_point() else v).cpu() for k, v in self.network.state_dict().items()}
        payload = {
            "format": WEIGHTS_FORMAT,
            "network": {"name": network_name(self.network), "config": self.network.config()},
            "temperature": self.temperature,
            "size": self.size,
            "state_dict": state_dict,
        }
        torch.save(payload, path)
        return path

    @classmethod
    def load(cls, spec: str | Path, device: str | torch.device = "cpu", tracking_uri: str | None = None) -> Colorizer:
        """Load from a model spec: a .ckpt or weights file, `models:/NAME@ALIAS`, `models:/NAME/VERSION`,
        `runs:/RUN_ID/PATH` or `pretrained` (see `lightning_modules.model_spec`)."""
        from lightning_modules.model_spec import load_colorizer  # the resolver builds on this class

        return load_colorizer(spec, device, tracking_uri)

    # ---------------------------------------------------------------- colouring
    def _resize(self, l: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) -> (B, 1, size, size), antialiased."""
        return F.interpolate(l, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)

    def _predict_small_ab(
        self, small_l: torch.Tensor, local_hints: torch.Tensor | None = None, global_hint: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, 1, size, size) L in [0, 100] on the device -> (B, 2, size/4, size/4) ab."""
        ab = predict_ab(self.network, small_l, local_hints, global_hint, self.temperature).float()
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
        return lab_to_rgb_keep_l(compose_lab(l, self._predict_small_ab(self._resize(l), local_hints, global_hint)))

    @torch.no_grad()
    def colorize_rgb(self, rgb: torch.Tensor, **hints) -> torch.Tensor:
        """(B, 3, H, W) RGB (or grey replicated) in [0, 1] -> (B, 3, H, W) RGB in [0, 1], same L."""
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise ValueError(f"rgb must have shape (B, 3, H, W), got {tuple(rgb.shape)}")
        return self.colorize_l(rgb_to_lab(rgb.to(self.device, torch.float32))[:, :1], **hints)

    @torch.no_grad()
    def colorize_batch(self, images: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Photos of different sizes, each (3, H, W) uint8 RGB -> (3, H, W) uint8 RGB each, same L.

        The network sees them as one batch at `size` x `size`; each colour map is upsampled onto its
        photo's full-resolution L.
        """
        for image in images:
            if image.ndim != 3 or image.shape[0] != 3 or image.dtype != torch.uint8:
                raise ValueError(f"images must be (3, H, W) uint8, got {tuple(image.shape)} {image.dtype}")
        if not images:
            return []
        ls = [rgb_to_lab(image[None].to(self.device, torch.float32) / 255)[:, :1] for image in images]
        small_ab = self._predict_small_ab(torch.cat([self._resize(l) for l in ls]))
        return [to_uint8(lab_to_rgb_keep_l(compose_lab(l, small_ab[i : i + 1])))[0] for i, l in enumerate(ls)]

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
