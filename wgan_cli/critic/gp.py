"""Gradient penalty (Gulrajani et al. 2017, WGAN-GP).

    penalty = lambda * E_xhat[(||grad f(xhat)||_2 - 1)^2],  xhat = a x_real + (1 - a) x_fake,

with one a ~ U[0, 1] per sample (shape [B, 1, ...]) and the norm taken over all non-batch
dimensions. Computed in float32 even under autocast: the double backward overflows in half.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from wgan_cli.config import require
from wgan_cli.critic.base import STRATEGIES, LipschitzStrategy, StrategyConfig


@dataclass
class GPConfig(StrategyConfig):
    name: str = "gp"
    weight: float = 10.0  # lambda


def interpolate(real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Random points on the segments between paired real and fake samples, one weight per sample."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, device=real.device, dtype=real.dtype, generator=generator)
    return alpha * real + (1 - alpha) * fake


def input_gradient_norms(critic: nn.Module, x: Tensor, create_graph: bool = False) -> Tensor:
    """||grad_x f(x)||_2 per sample, over all non-batch dimensions."""
    x = x.detach().float().requires_grad_(True)
    with torch.autocast(device_type=x.device.type, enabled=False):
        out = critic(x)
        (grad,) = torch.autograd.grad(out.sum(), x, create_graph=create_graph)
    return torch.linalg.vector_norm(grad.flatten(1), dim=1)


@STRATEGIES.register("gp", GPConfig)
class GradientPenalty(LipschitzStrategy):
    has_penalty = True

    def __init__(self, cfg: GPConfig) -> None:
        require(cfg.weight >= 0, "critic.weight", cfg.weight, "the penalty weight must be >= 0")
        super().__init__(cfg)

    def penalty(self, critic: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator) -> Tensor:
        norms = input_gradient_norms(critic, interpolate(real, fake, generator), create_graph=True)
        return self.cfg.weight * self.excess(norms).mean()

    @staticmethod
    def excess(norms: Tensor) -> Tensor:
        """Two-sided: (||grad|| - 1)^2."""
        return (norms - 1) ** 2
