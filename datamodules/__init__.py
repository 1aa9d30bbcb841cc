"""LightningDataModules for colorization: ImageNet, any photo folder, and the bundled samples."""

from datamodules.colorization_datamodule import ColorizationDataModule
from datamodules.folder_datamodule import FolderDataModule
from datamodules.imagenet_datamodule import ImageNetDataModule

__all__ = ["ColorizationDataModule", "FolderDataModule", "ImageNetDataModule"]
