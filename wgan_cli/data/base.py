"""The interface of a data source: draw ``n`` samples on the training device."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from wgan_cli.registry import Registry


@dataclass
class DataConfig:
    name: str = "none"


class DataSource:
    """Samples of the real distribution P, already on ``device``."""

    shape: tuple[int, ...]  # shape of one sample
    on_device = True  # ``sample`` runs on the device alone (no host work): a CUDA graph can capture it

    def __init__(self, cfg: DataConfig, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        raise NotImplementedError


DATASETS: Registry[type[DataSource]] = Registry("data")
