"""The interface of a data source: draw ``n`` samples on the training device."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from wgan_cli.schema.data import DATASETS, DataConfig  # noqa: F401  (re-exported)


if TYPE_CHECKING:
    from wgan_cli.distributed import Shard


class DataSource:
    """Samples of the real distribution P, already on ``device``."""

    shape: tuple[int, ...]  # shape of one sample
    on_device = True  # ``sample`` runs on the device alone (no host work): a CUDA graph can capture it

    def __init__(self, cfg: DataConfig, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def count(self) -> int:
        """How many samples the source holds; 0 for a distribution that draws without end (the toys)."""
        return 0

    def take(self, idx: Tensor) -> Tensor:
        """The samples at ``idx`` (a finite source), as ``sample`` returns them."""
        raise NotImplementedError

    def batch_rows(self, n: int, generator: torch.Generator, shard: Shard) -> Tensor:
        """This process's rows of the next training batch of ``n`` (every row in a single process)."""
        return shard.rows(self.sample(n, generator))


