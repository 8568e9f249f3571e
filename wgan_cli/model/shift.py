"""The WGAN paper's Example 1 generator: g_theta(z) = (theta, Phi(z)), the segment {theta} x [0, 1]
(Phi the standard normal CDF, so Phi(z) ~ U[0, 1]); one parameter. The critic is an MLP."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from wgan_cli.config import require
from wgan_cli.model.base import MODELS
from wgan_cli.model.mlp import MLPCritic, MLPConfig
from wgan_cli.schema.model import ShiftConfig


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
