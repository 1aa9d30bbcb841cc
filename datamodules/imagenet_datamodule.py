"""ImageNet ILSVRC2012 in its distributed layout, with an optional ctest10k-style evaluation list."""

from __future__ import annotations

from pathlib import Path

from pseudocolor.datamodules.colorization_datamodule import ColorizationDataModule
from pseudocolor.datamodules.decoding import list_images, read_list_file


class ImageNetDataModule(ColorizationDataModule):
    """ILSVRC2012: `root/train/<wnid>/*.JPEG` and `root/val/` (in <wnid>/ folders or flat).

    Args:
        root: the folder holding train/ and val/.
        list_file: optional ctest10k-format list selecting the evaluation images from val/.
        **kwargs: batch and loader settings of ColorizationDataModule.
    """

    def __init__(self, root: str, list_file: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters()
        self.root = Path(root)
        self.list_file = list_file
        self._files: dict[str, list[Path]] = {}

    def _folder(self, name: str) -> Path:
        folder = self.root / name
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} not found; root must hold ILSVRC2012's train/ and val/ folders")
        return folder

    def train_files(self) -> list[Path]:
        if "train" not in self._files:
            self._files["train"] = list_images(self._folder("train"))
        return self._files["train"]

    def val_files(self) -> list[Path]:
        if "val" not in self._files:
            val_dir = self._folder("val")
            self._files["val"] = read_list_file(self.list_file, val_dir) if self.list_file else list_images(val_dir)
        return self._files["val"]
