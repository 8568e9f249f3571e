"""Image datasets, scaled to [-1, 1].

- ``digits``: scikit-learn's bundled 8x8 handwritten digits (1,797 images; no download).
- ``mnist``, ``fashion_mnist``, ``cifar10``: torchvision's dataset classes under ``data.root``;
  missing or corrupt files stop the run with one line naming the folder and the override.
- ``image_folder``: every image under ``data.path`` (``data/image_folder.py``).

A dataset lives on the training device as uint8 [N, C, H, W] and batches are drawn by index there
(no per-step DataLoader); only an image folder larger than ``data.max_memory_mb`` streams.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from wgan_cli.config import require
from wgan_cli.data.base import DATASETS, DataSource
from wgan_cli.errors import DataError
from wgan_cli.paths import cache_dir
from wgan_cli.schema.data import DigitsConfig, ImageConfig, TorchvisionConfig

FEW_IMAGES = 10  # fewer real images than this: a warning
log = logging.getLogger("wgan_cli")


def default_root() -> str:
    return str(cache_dir("datasets"))


def resize_uint8(images: Tensor, size: int) -> Tensor:
    """uint8 [N, C, h, w] -> uint8 [N, C, size, size], bilinear with antialiasing."""
    if images.shape[-2:] == (size, size):
        return images
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def to_unit_range(images: Tensor) -> Tensor:
    """uint8 in [0, 255] -> float in [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


class ImageSource(DataSource):
    """Images held on the device as uint8; ``sample`` draws indices with the run's generator."""

    splits: tuple[str, ...] = ("train",)

    def __init__(self, cfg: ImageConfig, device: torch.device) -> None:
        require(cfg.split in self.splits, "data.split", cfg.split, f"data={cfg.name} has split(s) {', '.join(self.splits)}")
        super().__init__(cfg, device)
        images = resize_uint8(self.load(), cfg.size)
        if len(images) == 0:
            raise DataError(f"data={cfg.name}: no images found")
        if len(images) < FEW_IMAGES:
            log.warning("data=%s: only %d image(s); the generator can at best reproduce them, and W1 and FID "
                        "against so few real images measure memorization", cfg.name, len(images))
        self.images = images.to(device)
        self.shape = tuple(self.images.shape[1:])

    def load(self) -> Tensor:
        """All images as uint8 [N, C, H, W] on the CPU."""
        raise NotImplementedError

    def reference_images(self, n: int) -> Tensor:
        """The first ``n`` images, uint8 [n, C, H, W]: FID's reference set."""
        return self.images[:n]

    def count(self) -> int:
        return len(self.images)

    def take(self, idx: Tensor) -> Tensor:
        return to_unit_range(self.images[idx.to(self.device)])

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        idx = torch.randint(len(self.images), (n,), device=self.device, generator=generator)
        return to_unit_range(self.images[idx])


@DATASETS.register("digits", DigitsConfig)
class Digits(ImageSource):
    """scikit-learn's digits: values 0..16 on an 8x8 grid, one channel."""

    def load(self) -> Tensor:
        from sklearn.datasets import load_digits  # lazy: scikit-learn loads only where it is used

        pixels = torch.from_numpy(load_digits().images).float()  # [1797, 8, 8] in 0..16
        return (pixels * (255.0 / 16.0)).round().to(torch.uint8).unsqueeze(1)


class TorchvisionSource(ImageSource):
    """A torchvision dataset class read from ``data.root``; its ``.data`` holds every image."""

    dataset_class: str  # attribute of torchvision.datasets
    folder: str  # the sub-folder torchvision reads under root
    splits = ("train", "test")

    def load(self) -> Tensor:
        import torchvision  # lazy: torchvision loads only where it is used

        root = Path(self.cfg.root or default_root()).expanduser()
        where = root / self.folder
        cls = getattr(torchvision.datasets, self.dataset_class)
        try:
            dataset = cls(str(root), train=self.cfg.split == "train", download=self.cfg.download)
        except RuntimeError as ex:
            if "download=True" not in str(ex):
                raise DataError(f"data={self.cfg.name}: could not read {where}: {ex}") from ex
            raise DataError(
                f"data={self.cfg.name}: dataset files not found or corrupted in {where}; "
                f"add data.download=true to fetch them, or point data.root=... at a folder that holds {self.folder}/"
            ) from ex
        except Exception as ex:  # a truncated or garbled file fails while decoding
            raise DataError(f"data={self.cfg.name}: could not read {where}: {type(ex).__name__}: {ex}") from ex
        data = torch.as_tensor(dataset.data)
        return data.unsqueeze(1) if data.ndim == 3 else data.permute(0, 3, 1, 2).contiguous()


@DATASETS.register("mnist", TorchvisionConfig)
class MNIST(TorchvisionSource):
    dataset_class, folder = "MNIST", "MNIST"


@DATASETS.register("fashion_mnist", TorchvisionConfig)
class FashionMNIST(TorchvisionSource):
    dataset_class, folder = "FashionMNIST", "FashionMNIST"


@DATASETS.register("cifar10", TorchvisionConfig)
class CIFAR10(TorchvisionSource):
    dataset_class, folder = "CIFAR10", "cifar-10-batches-py"
