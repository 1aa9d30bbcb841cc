"""Any folder tree of photos, by default the sample photos bundled with the package."""

from __future__ import annotations

import random
from pathlib import Path

from pseudocolor.datamodules.colorization_datamodule import ColorizationDataModule
from pseudocolor.datamodules.decoding import list_images
from pseudocolor.datamodules.errors import PseudocolorError
from pseudocolor.datamodules.sample_photos import SAMPLES_DIR


class FolderDataModule(ColorizationDataModule):
    """Photos (jpg/png/webp/tif/bmp, any case) anywhere below `root`.

    Args:
        root: the training folder, or a list of folders whose photos are pooled (a data mix); None means the
            bundled sample photos.
        val_root: a separate validation folder or list of folders; without one, a seeded `val_fraction` of
            `root` is held out.
        val_fraction: share of the photos held out for validation when there is no `val_root`.
        seed: seed of that split.
        **kwargs: batch and loader settings of ColorizationDataModule.
    """

    def __init__(
        self,
        root: str | list[str] | None = None,
        val_root: str | list[str] | None = None,
        val_fraction: float = 0.2,
        seed: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters()
        if not 0 < val_fraction < 1:
            raise PseudocolorError(f"val_fraction must be in (0, 1), got {val_fraction}")
        self.roots = _folders(root) if root is not None else [SAMPLES_DIR]
        self.val_roots = _folders(val_root) if val_root is not None else None
        self.val_fraction = val_fraction
        self.seed = seed
        self._split: tuple[list[Path], list[Path]] | None = None

    def _train_val(self) -> tuple[list[Path], list[Path]]:
        if self._split is None:
            files = _photos_below(self.roots)
            if self.val_roots is not None:
                self._split = (files, _photos_below(self.val_roots))
            else:
                shuffled = files.copy()
                random.Random(self.seed).shuffle(shuffled)
                num_val = max(1, round(len(files) * self.val_fraction))
                self._split = (sorted(shuffled[num_val:]), sorted(shuffled[:num_val]))
        return self._split

    def train_files(self) -> list[Path]:
        return self._train_val()[0]

    def val_files(self) -> list[Path]:
        return self._train_val()[1]

    def source_folders(self, split: str) -> list[Path]:
        """`root`'s folders; for "val" those of `val_root` when there is one."""
        return list(self.val_roots if split == "val" and self.val_roots is not None else self.roots)


def _folders(root: str | list[str]) -> list[Path]:
    return [Path(folder) for folder in ([root] if isinstance(root, (str, Path)) else root)]


def _photos_below(folders: list[Path]) -> list[Path]:
    """Every photo below each folder, the folders in the order given; a folder without photos is an error."""
    files = []
    for folder in folders:
        found = list_images(folder)
        if not found:
            raise FileNotFoundError(f"{folder} holds no photos (.jpg, .png, .webp, .tif, .bmp)")
        files.extend(found)
    return files
