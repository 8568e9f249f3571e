"""Gradient penalty (Gulrajani et al. 2017, WGAN-GP).

    penalty = lambda * E_xhat[(||grad f(xhat)||_2 - 1)^2],  xhat = a x_real + (1 - a) x_fake,

with one a ~ U[0, 1] per sample (shape [B, 1, ...]) and the norm taken over all non-batch
dimensions. Computed in float32 even under autocast: the double backward overflows in half.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wgan_cli.critic.base import STRATEGIES, LipschitzStrategy
from wgan_cli.distributed import WHOLE, Shard
from wgan_cli.gradients import input_gradient_norms, interpolate
from wgan_cli.schema.critic import GPConfig


class _PiecewiseLinear(torch.autograd.Function):
    """(Leaky) ReLU whose backward is ``g * slope`` with the slope (1 or the negative slope) saved
    as a constant. PyTorch's own ReLU differentiates its backward with respect to x too,
    materializing zeros (the second derivative) that the penalty's double backward then
    multiplies back through every layer of the critic's forward graph. The results are the same
    to the bit; the FLOPs are not."""

    @staticmethod
    def forward(ctx, x: Tensor, negative_slope: float) -> Tensor:  # noqa: ANN001
        ctx.save_for_backward(torch.where(x > 0, 1.0, negative_slope).to(x.dtype))
        return F.leaky_relu(x, negative_slope) if negative_slope else F.relu(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # noqa: ANN001
        (slope,) = ctx.saved_tensors
        return grad * slope, None


class PiecewiseLinear(nn.Module):
    """Drop-in for ``nn.ReLU`` (slope 0) and ``nn.LeakyReLU``; see ``_PiecewiseLinear``."""

    def __init__(self, negative_slope: float = 0.0) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return _PiecewiseLinear.apply(x, self.negative_slope)


def swap_activations(module: nn.Module) -> nn.Module:
    """Replace every ``nn.ReLU`` / ``nn.LeakyReLU`` below ``module`` by ``PiecewiseLinear``."""
    for name, child in module.named_children():
        if isinstance(child, nn.ReLU):
            setattr(module, name, PiecewiseLinear())
        elif isinstance(child, nn.LeakyReLU):
            setattr(module, name, PiecewiseLinear(child.negative_slope))
        else:
            swap_activations(child)
    return module


@STRATEGIES.register("gp", GPConfig)
class GradientPenalty(LipschitzStrategy):
    needs_double_backward = True  # hence ``prepare`` swaps in activations with a cheap double backward

    def prepare(self, critic: nn.Module) -> nn.Module:
        """The critic with activations whose double backward skips the zero second derivative."""
        return swap_activations(critic)

    def penalty(self, critic: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator,
                shard: Shard = WHOLE) -> Tensor:
        norms = input_gradient_norms(critic, interpolate(real, fake, generator, shard), create_graph=True)
        return self.cfg.weight * self.excess(norms).mean()

    @staticmethod
    def excess(norms: Tensor) -> Tensor:
        """Two-sided: (||grad|| - 1)^2."""
        return (norms - 1) ** 2
