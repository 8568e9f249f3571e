"""The WGAN paper's Example 1 generator: g_theta(z) = (theta, Phi(z)), the segment {theta} x [0, 1]
(Phi the standard normal CDF, so Phi(z) ~ U[0, 1]); one parameter. The critic is an MLP."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from wgan_cli.config import require
from wgan_cli.model.base import MODELS, ModelConfig
from wgan_cli.model.mlp import MLPCritic, MLPConfig


@dataclass
class ShiftConfig(ModelConfig):
    name: str = "shift"
    noise_dim: int = 1
    theta: float = 1.0  # initial shift
    width: int = 64  # critic
    depth: int = 2

    def check(self) -> None:
        super().check()
        require(self.noise_dim == 1, "model.noise_dim", self.noise_dim, "must be 1 for model=shift")


class ShiftGenerator(nn.Module):
    def __init__(self, theta: float) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(float(theta)))

    def forward(self, z: Tensor) -> Tensor:
        u = torch.special.ndtr(z[:, 0])
        return torch.stack([self.theta.expand_as(u), u], dim=1)


@MODELS.register("shift", ShiftConfig)
def build_shift(cfg: ShiftConfig, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    require(tuple(shape) == (2,), "model", "shift", f"needs 2-D data (data=disjoint_lines), got samples of shape {tuple(shape)}")
    critic_cfg = MLPConfig(width=cfg.width, depth=cfg.depth)
    return ShiftGenerator(cfg.theta), MLPCritic(critic_cfg, shape)
