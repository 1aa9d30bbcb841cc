"""A network's weights file: a plain state dict plus the config that rebuilds the network, never pickled code.

Two kinds are read: the exported file (`save_network`, format `pseudocolor-weights/1`) and a Lightning
checkpoint of ColorizationModule (its `network.*` weights and the `network` entry it stores). Both are read
with `torch.load(weights_only=True)` through `load_weights_only`, which is also what every other load in
the package uses.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.lightning_modules.ab_encoding import ANNEALED_TEMPERATURE
from pseudocolor.lightning_modules.networks import build_network, network_name

WEIGHTS_FORMAT = "pseudocolor-weights/1"
DEFAULT_NETWORK_SIZE = 256


class ModelLoadError(PseudocolorError):
    """A model file or spec that cannot be loaded; the message names it and what to do."""


def load_weights_only(path: str | Path, what: str = "weights file", map_location: Any = "cpu") -> Any:
    """`torch.load(path, weights_only=True)`; a file that holds pickled code, or is damaged, raises
    ModelLoadError in one sentence naming it (torch's own message tells users to retry with weights_only=False)."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: {what} not found; pass an existing file")
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=True)
    except pickle.UnpicklingError as error:
        if "weights only load failed" in str(error).lower():
            raise ModelLoadError(
                f"{path}: this {what} holds pickled code, which pseudocolor never runs; use a file written by "
                "pseudocolor (a .ckpt of `pseudocolor fit` or `pseudocolor export --format weights`)"
            ) from None
        raise ModelLoadError(f"{path}: this {what} is damaged or not a PyTorch file; pass another one") from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise ModelLoadError(
            f"{path}: this {what} is damaged or not a PyTorch file ({type(error).__name__}); pass another one"
        ) from None


@dataclass(frozen=True)
class LoadedNetwork:
    """A trained network (eval mode, float32, on the CPU) and the decoding settings saved with it."""

    network: nn.Module
    temperature: float = ANNEALED_TEMPERATURE
    size: int = DEFAULT_NETWORK_SIZE
    chroma_gain: float = 1.0


def load_network(path: str | Path) -> LoadedNetwork:
    """Read an exported weights file or a Lightning checkpoint -> LoadedNetwork; raises ModelLoadError naming it."""
    payload = load_weights_only(path, "model file")
    if not isinstance(payload, dict) or "network" not in payload or "state_dict" not in payload:
        raise ModelLoadError(f"{path}: holds no pseudocolor network config; pass a file written by pseudocolor")
    state_dict = payload["state_dict"]
    if payload.get("format") == WEIGHTS_FORMAT:
        temperature = payload.get("temperature", ANNEALED_TEMPERATURE)
        chroma_gain = payload.get("chroma_gain", 1.0)
    else:  # a Lightning checkpoint of ColorizationModule
        state_dict = {k.removeprefix("network."): v for k, v in state_dict.items() if k.startswith("network.")}
        temperature = payload.get("hyper_parameters", {}).get("temperature", ANNEALED_TEMPERATURE)
        chroma_gain = 1.0  # a decoding setting chosen after training, written by `export --chroma-gain`
    try:
        network = build_network(payload["network"]["name"], **payload["network"]["config"])
        network.load_state_dict({k: v.float() for k, v in state_dict.items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise ModelLoadError(f"{path}: its weights do not fit the network it names ({type(error).__name__}); "
                             "pass a file written by pseudocolor") from None
    return LoadedNetwork(network.eval(), temperature, payload.get("size", DEFAULT_NETWORK_SIZE), chroma_gain)


def save_network(
    path: str | Path,
    network: nn.Module,
    temperature: float = ANNEALED_TEMPERATURE,
    size: int = DEFAULT_NETWORK_SIZE,
    half: bool = True,
    chroma_gain: float = 1.0,
) -> Path:
    """Write `network` as a plain state dict (fp16 when `half`) with its config and decoding settings."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state_dict = {k: (v.half() if half and v.is_floating_point() else v).cpu() for k, v in network.state_dict().items()}
    payload = {
        "format": WEIGHTS_FORMAT,
        "network": {"name": network_name(network), "config": network.config()},
        "temperature": temperature,
        "chroma_gain": chroma_gain,
        "size": size,
        "state_dict": state_dict,
    }
    torch.save(payload, path)
    return path
