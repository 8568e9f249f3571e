"""Fully connected ReLU networks, as in the WGAN-GP toy code (width 512, depth 3)."""

from __future__ import annotations

import math

from torch import Tensor, nn

from wgan_cli.model.base import MODELS
from wgan_cli.schema.model import MLPConfig


def mlp(n_in: int, width: int, depth: int, n_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(n_in if i == 0 else width, width), nn.ReLU()]
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    def __init__(self, cfg: MLPConfig, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.net = mlp(cfg.noise_dim, cfg.width, cfg.depth, math.prod(shape))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(-1, *self.shape)


class MLPCritic(nn.Module):
    feed_forward = True  # Linear/Conv2d and 1-Lipschitz activations only: prod ||W_l|| bounds Lip(f)

    def __init__(self, cfg: MLPConfig, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.net = mlp(math.prod(shape), cfg.width, cfg.depth, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1)).squeeze(1)


@MODELS.register("mlp", MLPConfig)
def build_mlp(cfg: MLPConfig, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    return MLPGenerator(cfg, shape), MLPCritic(cfg, shape)
