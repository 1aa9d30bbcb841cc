"""How much one serving request may ask for: the limits stored in the served model's config and the environment
variables that override each of them when serving.

Every limit is checked from image headers and request text before any pixel is decoded (see `request_check`), so
a request over a limit is refused in milliseconds with a 400 instead of holding the worker. The defaults suit a
2-core, 8 GB server behind `mlflow models serve` with its default 60 s request timeout: a request that passes them
is answered well within that (measured figures in README, "Limits of a request").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

ENV_PREFIX = "PSEUDOCOLOR_"


@dataclass(frozen=True)
class ServingLimits:
    """Limits of one request to the served model; each is a positive int.

    Attributes:
        max_pixels: decoded pixels (width x height) of one row's image.
        max_request_pixels: decoded pixels of the whole request: every row's image, reference and region masks and
            references together (a region's mask has its image's size, so each region adds the image's pixels again,
            as colouring it works at full resolution once more).
        max_rows: rows of one request.
        max_guided_rows: rows with hints, a reference or regions in one request (each is coloured on its own, a
            network pass at batch 1, where automatic rows share one pass per chunk).
        max_regions: regions of one row (`regions` column).
        max_hints: point hints of one row (`hints` column).
        max_reference_pixels: decoded pixels of one reference picture (`reference`, or a region's).
        max_mask_pixels: decoded pixels of all region masks of the request together (blending a region in costs
            about 8 times what colouring its pixels automatically does).
        max_references: reference pictures of the whole request, whole-image and region references of all rows
            together (each costs a network pass and a colour transfer).
    """

    max_pixels: int = 16_000_000
    max_request_pixels: int = 24_000_000
    max_rows: int = 128
    max_guided_rows: int = 32
    max_regions: int = 16
    max_hints: int = 1000
    max_reference_pixels: int = 4_000_000
    max_mask_pixels: int = 8_000_000
    max_references: int = 32

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"serving limit {item.name} must be a positive integer, got {value!r}")

    @classmethod
    def from_config(cls, config: Mapping[str, object], environ: Mapping[str, str] | None = None) -> ServingLimits:
        """The limits in a served model's config (keys of `to_config`; missing ones take the defaults), each replaced
        by its environment variable (`env_name`) where `environ` (default: os.environ) sets one.

        Raises ValueError naming the key or variable for an unknown key or a value that is not a positive integer.
        """
        environ = os.environ if environ is None else environ
        names = {item.name for item in fields(cls)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise ValueError(f"serving config has unknown limits {unknown}; known: {sorted(names)}")
        values = {name: config[name] for name in names if name in config}
        for name in names:
            variable = env_name(name)
            if environ.get(variable, "").strip():
                try:
                    values[name] = int(environ[variable])
                except ValueError as error:
                    raise ValueError(
                        f"{variable}={environ[variable]!r} is not an integer; set a positive number"
                    ) from error
                if values[name] < 1:
                    raise ValueError(f"{variable}={environ[variable]!r} must be positive")
        return cls(**values)

    def to_config(self) -> dict[str, int]:
        """-> the JSON-able mapping that `from_config` reads."""
        return asdict(self)


DEFAULT_LIMITS = ServingLimits()

UNITS = {  # limit -> (what it counts, per what, what to send instead): the words of `over_limit`
    "max_pixels": ("pixels", "image", "send a smaller image"),
    "max_request_pixels": ("decoded pixels", "request", "send fewer or smaller images in one request"),
    "max_rows": ("rows", "request", "split the request"),
    "max_guided_rows": ("guided rows", "request", "split the request"),
    "max_regions": ("regions", "row", "send fewer regions"),
    "max_hints": ("hints", "row", "send fewer hints"),
    "max_reference_pixels": ("pixels", "reference", "send a smaller reference"),
    "max_references": ("references", "request", "send fewer references in one request"),
    "max_mask_pixels": ("mask pixels", "request", "send fewer regions or smaller images with regions"),
}


def env_name(field_name: str) -> str:
    """The environment variable that overrides limit `field_name` at serve time, e.g. PSEUDOCOLOR_MAX_ROWS."""
    return ENV_PREFIX + field_name.upper()


def over_limit(field_name: str, limits: ServingLimits, where: str, value: int | str, detail: str = "") -> str:
    """One sentence for a request over limit `field_name`: where, the value, the limit and the variable raising it,
    e.g. "row 0 of column 'regions': 200 regions exceed the limit of 16 regions per row (max_regions); send fewer
    regions, or raise the limit with PSEUDOCOLOR_MAX_REGIONS when serving"."""
    what, per, remedy = UNITS[field_name]
    amount = f"{value} {what}" + (f" ({detail})" if detail else "")
    return (
        f"{where}: {amount} exceed the limit of {getattr(limits, field_name)} {what} per {per} ({field_name}); "
        f"{remedy}, or raise the limit with {env_name(field_name)} when serving"
    )
