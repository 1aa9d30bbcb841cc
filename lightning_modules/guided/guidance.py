"""What a person gives to guide one photo's colours: the one guidance record that `pseudocolor colorize`, the Python
API and the served model build, and colouring a photo with it."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from pseudocolor.lightning_modules.guided.regions import PointHint, Region, colorize_with_regions
from pseudocolor.lightning_modules.inference.colorizer import Colorizer


@dataclass
class Guidance:
    """Point hints ((x, y) pixels, (r, g, b) in [0, 1]), a whole-photo reference (3, h, w) or RGBA (4, h, w), regions
    each with their own reference, how regions meet the background ('poisson' or 'feather') and how references give
    colour ('transfer' or 'histogram', see `regions`). Empty: automatic colouring."""

    hints: list[PointHint] = field(default_factory=list)
    reference: torch.Tensor | None = None
    regions: list[Region] = field(default_factory=list)
    blend: str = "poisson"
    reference_mode: str = "transfer"

    @property
    def active(self) -> bool:
        return bool(self.hints or self.reference is not None or self.regions)

    def colorize(self, colorizer: Colorizer, image: torch.Tensor) -> torch.Tensor:
        """(3, H, W) or (1, H, W) image, float in [0, 1] or uint8 -> (3, H, W) RGB in [0, 1] with the image's L."""
        return colorize_with_regions(
            colorizer,
            image,
            self.regions,
            reference=self.reference,
            hints=self.hints,
            blend=self.blend,
            reference_mode=self.reference_mode,
        )
