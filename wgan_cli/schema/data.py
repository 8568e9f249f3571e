"""Config schemas of the data sources (group ``data``); implementations in ``wgan_cli/data/``."""

from __future__ import annotations

from dataclasses import dataclass

from wgan_cli.config import require
from wgan_cli.registry import Registry

DATASETS = Registry("data")


@dataclass
class DataConfig:
    name: str = "none"

    def check(self) -> None:
        """Range checks of the values (the registry calls this before building)."""


@dataclass
class ToyConfig(DataConfig):
    """``gaussians8``: the WGAN-GP toy code's scales."""

    std: float = 0.02  # noise around each mode (swiss roll: its noise parameter)
    scale: float = 1.414  # every sample is divided by this

    def check(self) -> None:
        require(self.std >= 0, "data.std", self.std, "must be >= 0")
        require(self.scale > 0, "data.scale", self.scale, "must be > 0")


@dataclass
class Gaussians25Config(ToyConfig):
    std: float = 0.05
    scale: float = 2.828


@dataclass
class SwissRollConfig(ToyConfig):
    std: float = 0.25
    scale: float = 7.5


@dataclass
class ImageConfig(DataConfig):
    """Every image dataset (``digits``); each family below adds only the keys that apply to it."""

    size: int = 32  # images are resized to size x size
    split: str = "train"  # train | test (torchvision datasets; the others have one split, train)
    max_memory_mb: int = 4096  # datasets up to this size (uint8) live on the device

    def check(self) -> None:
        require(self.size >= 4, "data.size", self.size, "must be an integer >= 4")
        require(self.max_memory_mb >= 0, "data.max_memory_mb", self.max_memory_mb,
                "must be an integer >= 0 (0: an image folder always streams)")


@dataclass
class DigitsConfig(ImageConfig):
    size: int = 16  # the 8 x 8 digits, upscaled to a side the CNNs take


@dataclass
class TorchvisionConfig(ImageConfig):
    """``mnist``, ``fashion_mnist``, ``cifar10``: torchvision's dataset classes."""

    root: str = ""  # the folder that holds them ("" = ~/.cache/wgan-cli/datasets)
    download: bool = False  # fetch missing files (needs network)


@dataclass
class FolderConfig(ImageConfig):
    """``image_folder``: every image under ``path``."""

    path: str = ""  # the folder of images
    workers: int = 2  # DataLoader workers when streaming

    def check(self) -> None:
        super().check()
        require(bool(self.path), "data.path", "''", "image_folder needs data.path=/folder/of/images")
        require(self.split == "train", "data.split", self.split, "data=image_folder has split(s) train")
        require(self.workers >= 0, "data.workers", self.workers, "must be an integer >= 0 (0: read in the main process)")


for _name, _schema in {"gaussians8": ToyConfig, "gaussians25": Gaussians25Config, "swissroll": SwissRollConfig,
                       "disjoint_lines": DataConfig}.items():
    DATASETS.declare(_name, _schema, "wgan_cli.data.toy")
for _name, _schema in {"digits": DigitsConfig, "mnist": TorchvisionConfig, "fashion_mnist": TorchvisionConfig,
                       "cifar10": TorchvisionConfig}.items():
    DATASETS.declare(_name, _schema, "wgan_cli.data.images")
DATASETS.declare("image_folder", FolderConfig, "wgan_cli.data.image_folder")
