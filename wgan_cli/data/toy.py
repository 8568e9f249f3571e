"""The 2-D toy distributions of the WGAN-GP paper's toy code (gan_toy.py), at its scales.

- ``gaussians8``: 8 modes on the circle of radius 2, std 0.02, all divided by 1.414.
- ``gaussians25``: 25 modes on the grid {-4, -2, 0, 2, 4}^2, std 0.05, divided by 2.828.
- ``swissroll``: scikit-learn's ``make_swiss_roll`` (x, z) coordinates, noise 0.25, divided by 7.5.

Sampling is on the device with a dedicated ``torch.Generator``, so it is reproducible and
its state can be saved.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from wgan_cli.data.base import DATASETS, DataConfig, DataSource
from wgan_cli.metrics.modes import mode_coverage
from wgan_cli.schema.data import Gaussians25Config, SwissRollConfig, ToyConfig


class ToySource(DataSource):
    shape = (2,)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.points(n, generator) / self.cfg.scale

    def points(self, n: int, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def _noise(self, n: int, generator: torch.Generator) -> Tensor:
        return self.cfg.std * torch.randn(n, 2, device=self.device, generator=generator)


class MixtureSource(ToySource):
    """Equal-weight mixture of isotropic gaussians at ``centers``."""

    centers: Tensor

    def points(self, n: int, generator: torch.Generator) -> Tensor:
        idx = torch.randint(len(self.centers), (n,), device=self.device, generator=generator)
        return self.centers[idx] + self._noise(n, generator)

    def mode_coverage(self, samples: Tensor) -> dict[str, float]:
        """Modes captured and the share of high-quality samples (``metrics/modes.py``), in the
        samples' scale."""
        return mode_coverage(samples, self.centers / self.cfg.scale, self.cfg.std / self.cfg.scale)


@DATASETS.register("gaussians8", ToyConfig)
class Gaussians8(MixtureSource):
    def __init__(self, cfg: ToyConfig, device: torch.device) -> None:
        super().__init__(cfg, device)
        angles = torch.arange(8, dtype=torch.float32) * (math.pi / 4)
        self.centers = (2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)).to(device)


@DATASETS.register("gaussians25", Gaussians25Config)
class Gaussians25(MixtureSource):
    def __init__(self, cfg: ToyConfig, device: torch.device) -> None:
        super().__init__(cfg, device)
        grid = torch.arange(-4.0, 5.0, 2.0)
        self.centers = torch.cartesian_prod(grid, grid).to(device)


@DATASETS.register("swissroll", SwissRollConfig)
class SwissRoll(ToySource):
    def points(self, n: int, generator: torch.Generator) -> Tensor:
        t = 1.5 * math.pi * (1 + 2 * torch.rand(n, device=self.device, generator=generator))
        return torch.stack([t * t.cos(), t * t.sin()], dim=1) + self._noise(n, generator)


@DATASETS.register("disjoint_lines", DataConfig)
class DisjointLines(DataSource):
    """The WGAN paper's Example 1: P uniform on the segment {0} x [0, 1]. Against the shifted
    segment {theta} x [0, 1] (``model=shift``): W1 = |theta|, while JS = log 2 for every theta != 0."""

    shape = (2,)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        u = torch.rand(n, device=self.device, generator=generator)
        return torch.stack([torch.zeros_like(u), u], dim=1)
