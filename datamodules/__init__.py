"""Data: decoding any photo to RGB, colour-space conversion, masks, and the LightningDataModules.

Import the DataModules from their modules (`pseudocolor.datamodules.folder_datamodule.FolderDataModule`, ...):
this package's own import stays free of Lightning, so inference can use decoding and colour conversion alone.
"""
