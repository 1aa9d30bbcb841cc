"""ImageNet ILSVRC2012 in its distributed layout, with an optional ctest10k-style evaluation list."""

from __future__ import annotations

from pathlib import Path

from pseudocolor.datamodules.colorization_datamodule import ColorizationDataModule
from pseudocolor.datamodules.decoding import list_images


def read_list_file(list_file: str | Path, val_dir: Path) -> list[Path]:
    """Resolve a ctest10k-format list (`/n01440764/ILSVRC2012_val_00000293.JPEG 0` per line, paths
    relative to val/) against `val_dir`, laid out either in <wnid>/ folders or flat."""
    list_file = Path(list_file)
    if not list_file.is_file():
        raise FileNotFoundError(f"list file {list_file} not found; pass a ctest10k-format list or omit it")
    files = []
    for number, line in enumerate(list_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        relative = Path(line.split()[0].lstrip("/"))
        for candidate in (val_dir / relative, val_dir / relative.name):
            if candidate.is_file():
                files.append(candidate)
                break
        else:
            raise FileNotFoundError(
                f"{list_file}:{number}: {relative} is in neither {val_dir}/<wnid>/ nor {val_dir}/; "
                "check the val folder or the list"
            )
    return files


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
