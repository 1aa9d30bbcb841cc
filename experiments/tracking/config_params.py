"""A run's MLflow params from its LightningCLI config: each value once, under its full key."""

from __future__ import annotations

import os
from pathlib import Path

# Keys of the config that are not settings: the config files given (logged as config/<stage>.yaml instead).
NOT_SETTINGS = ("config",)


def config_params(config: dict, cwd: Path | None = None) -> dict[str, object]:
    """The resolved config as a dict -> {full key: value}, MLflow's params.

    Keys are the config's own paths (`model.optimizer.init_args.lr`, `data.init_args.batch_size`); list items
    that are classes get their index (`trainer.plugins.0.class_path`). Left out: None, empty groups, internal keys
    (any part starting with "_", e.g. `__default_config__`, `_instantiator`) and the config file list. Absolute
    paths inside `cwd` (default: the working directory) become relative to it, so runs started from different
    checkouts compare equal.
    """
    cwd = Path.cwd() if cwd is None else Path(cwd)
    params = {}
    for key, value in flatten(config).items():
        if key in NOT_SETTINGS or any(part.startswith("_") for part in key.split(".")):
            continue
        if value is None or value == {} or value == []:
            continue
        params[key] = _relative(value, cwd)
    return params


def flatten(tree: dict, separator: str = ".", prefix: str = "") -> dict[str, object]:
    """Nested dicts, and lists of dicts (the class entries of `trainer.callbacks`, `trainer.plugins`), -> one level,
    keys joined by `separator` (list items by their index); an empty dict leaves no key."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, separator, f"{name}{separator}"))
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            for index, item in enumerate(value):
                flat.update(flatten(item, separator, f"{name}{separator}{index}{separator}"))
        else:
            flat[name] = value
    return flat


def _relative(value: object, cwd: Path) -> object:
    """An absolute path string inside `cwd` -> relative to it ("." for cwd itself); lists item by item."""
    if isinstance(value, list):
        return [_relative(item, cwd) for item in value]
    if not isinstance(value, (str, os.PathLike)) or not os.path.isabs(value):
        return value
    path = Path(value)
    for base in (cwd, cwd.resolve()):
        if path.is_relative_to(base):
            return path.relative_to(base).as_posix() or "."
    return str(value)
