"""What every colorization network offers, so inference, training and guided colouring ask it, not guess."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from pseudocolor.datamodules.errors import PseudocolorError


@runtime_checkable
class ColorizationNetwork(Protocol):
    """(B, 1, H, W) L normalised to [-1, 1] (+ hints when `takes_hints`) -> (B, Q, H/4, W/4) logits over `ab_bins`.

    Attributes:
        ab_bins: (Q, 2) centres of the ab cells the logits are over (a buffer: checkpoints carry their own grid).
        takes_hints: whether `forward` accepts local hints (B, 3, H, W) and a global hint (B, Q + 1).

    Networks that also offer `forward_features(l) -> (B, C, H/4, W/4)` (both shipped ones do) are matched on those
    features when colours are transferred from a reference (`guided.exemplar_transfer`); others on lightness alone.
    """

    ab_bins: torch.Tensor

    @property
    def takes_hints(self) -> bool: ...

    def config(self) -> dict:
        """Plain constructor arguments that rebuild the network."""

    def forward(
        self, l: torch.Tensor, local_hints: torch.Tensor | None = None, global_hint: torch.Tensor | None = None
    ) -> torch.Tensor: ...


def require_hints(network: ColorizationNetwork, what: str) -> None:
    """Raise PseudocolorError naming `what` (e.g. "--hint") when `network` takes no hints."""
    if not network.takes_hints:
        raise PseudocolorError(
            f"{what} needs a model with hint inputs, but this {type(network).__name__} colours automatically only; "
            "drop the guidance or use a model trained with hints (e.g. --model pretrained)"
        )
