"""The interface of a data source: draw ``n`` samples on the training device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from wgan_cli.registry import Registry

if TYPE_CHECKING:
    from wgan_cli.distributed import Shard


@dataclass
class DataConfig:
    name: str = "none"

    def check(self) -> None:
        """Range checks of the values (the registry calls this before building)."""


class DataSource:
    """Samples of the real distribution P, already on ``device``."""

    shape: tuple[int, ...]  # shape of one sample
    on_device = True  # ``sample`` runs on the device alone (no host work): a CUDA graph can capture it

    def __init__(self, cfg: DataConfig, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def batch_rows(self, n: int, generator: torch.Generator, shard: Shard) -> Tensor:
        """This process's rows of the next training batch of ``n`` (every row in a single process)."""
        return shard.rows(self.sample(n, generator))


DATASETS: Registry[type[DataSource]] = Registry("data")
