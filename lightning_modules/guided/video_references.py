"""Reference pictures that guide a clip's colours: one for the whole clip, or one per keyframe for the frames from it
on (`KeyframeReferences`, a `video.FrameGuide` for `VideoColorizer`).

Each frame takes its colours from its reference the way a photo does (`regions`: "transfer" by correspondence through
`exemplar_transfer.transfer_ab`, falling back to the network's colours where nothing matches, or "histogram", the
reference's ab histogram as the network's global hint); `VideoColorizer` then carries them along the motion, and
restarts the clip at each keyframe so a new reference shows at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.lightning_modules.guided.exemplar_transfer import transfer_ab
from pseudocolor.lightning_modules.guided.regions import REFERENCE_MODES, Reference, prepare_reference, reference_hint
from pseudocolor.lightning_modules.inference.colorizer import Colorizer


class KeyframeReferences:
    """References for frames from their keyframes on.

    Args:
        colorizer: the colorizer whose network colours the clip (its features match frames to references).
        keyframes: (first frame index, reference) pairs; a reference is (3, h, w) RGB or (4, h, w) RGBA, uint8 or
            float in [0, 1] (alpha 0 gives no colour). Frames before the first keyframe are coloured automatically.
        reference_mode: "transfer" or "histogram" (`regions`).

    Raises PseudocolorError naming the keyframe when a reference cannot give colour or an index repeats or is negative.
    """

    def __init__(
        self, colorizer: Colorizer, keyframes: Sequence[tuple[int, torch.Tensor]], reference_mode: str = "transfer"
    ) -> None:
        if reference_mode not in REFERENCE_MODES:
            raise PseudocolorError(
                f"reference mode must be one of {', '.join(REFERENCE_MODES)}, got {reference_mode!r}"
            )
        indices = [index for index, _ in keyframes]
        if any(index < 0 for index in indices) or len(set(indices)) != len(indices):
            raise PseudocolorError(f"keyframes must be distinct frame indices >= 0, got {sorted(indices)}")
        self.colorizer = colorizer
        self.reference_mode = reference_mode
        self._keyframes: list[tuple[int, Reference]] = [
            (index, prepare_reference(image, name=f"reference of frame {index}", device=colorizer.device))
            for index, image in sorted(keyframes, key=lambda pair: pair[0])
        ]

    def starts(self) -> list[int]:
        """Frame indices at which the reference changes."""
        return [index for index, _ in self._keyframes]

    def reference_at(self, index: int) -> Reference | None:
        """The reference of frame `index`: that of the last keyframe at or before it, None before the first."""
        found = None
        for start, reference in self._keyframes:
            if start <= index:
                found = reference
        return found

    @torch.no_grad()
    def ab(self, first_index: int, small_l: torch.Tensor, auto_ab: torch.Tensor) -> torch.Tensor:
        """Frames `first_index`, `first_index` + 1, ... as (B, 1, S, S) L in [0, 100] at the network's working size and
        their automatic (B, 2, S/4, S/4) ab -> (B, 2, S/4, S/4) ab taken from each frame's reference."""
        if small_l.ndim != 4 or small_l.shape[1] != 1 or auto_ab.shape[0] != small_l.shape[0]:
            raise ValueError(f"small_l must be (B, 1, S, S) and auto_ab (B, 2, S/4, S/4), got {tuple(small_l.shape)}")
        references = [self.reference_at(first_index + i) for i in range(small_l.shape[0])]
        out = auto_ab.clone()
        network = self.colorizer.network
        for reference in {id(r): r for r in references if r is not None}.values():
            chosen = torch.tensor([r is reference for r in references], device=small_l.device)
            if self.reference_mode == "histogram":
                hint = reference_hint(reference, network.ab_bins).expand(int(chosen.sum()), -1)
                out[chosen] = self.colorizer.predict_small_ab(small_l[chosen], global_hint=hint)
            else:
                features = network if hasattr(network, "forward_features") else None
                out[chosen] = transfer_ab(small_l[chosen], reference.lab, reference.valid, auto_ab[chosen], features).ab
        return out
