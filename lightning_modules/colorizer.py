"""Inference: a trained network plus the few settings needed to colour photos of any size.

Weights are only ever read with `torch.load(weights_only=True)`: a state dict plus a plain config,
never pickled objects.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lightning_modules.color import ANNEALED_TEMPERATURE, compose_lab, lab_to_rgb, rgb_to_lab
from lightning_modules.networks import build_network, network_name
from lightning_modules.prediction import predict_ab

WEIGHTS_FORMAT = "pseudocolor-weights/1"
DEFAULT_NETWORK_SIZE = 256


class ModelLoadError(ValueError):
    """A model file or spec that cannot be loaded; the message names it and what to do."""


class Colorizer:
    """Colours RGB or grey photos: L is kept at full resolution, ab is predicted at `size` x `size`.

    Args:
        network: a registered network (e.g. ResidualCaffeNet) with trained weights.
        temperature: annealed-mean temperature.
        size: side of the square the network sees (the photo is resized to it, colour upsampled back).
    """

    def __init__(
        self, network: nn.Module, temperature: float = ANNEALED_TEMPERATURE, size: int = DEFAULT_NETWORK_SIZE
    ) -> None:
        self.network = network.eval()
        self.temperature = temperature
        self.size = size

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

    # ---------------------------------------------------------------- colouring
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
        small = F.interpolate(l, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        ab = predict_ab(self.network, small, local_hints, global_hint, self.temperature).float()
        return lab_to_rgb(compose_lab(l, ab))

    @torch.no_grad()
    def colorize_rgb(self, rgb: torch.Tensor, **hints) -> torch.Tensor:
        """(B, 3, H, W) RGB (or grey replicated) in [0, 1] -> (B, 3, H, W) RGB in [0, 1], same L."""
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise ValueError(f"rgb must have shape (B, 3, H, W), got {tuple(rgb.shape)}")
        return self.colorize_l(rgb_to_lab(rgb.to(self.device, torch.float32))[:, :1], **hints)
