"""The input-gradient math shared by the penalties (critic/gp.py, critic/lp.py) and the Lipschitz
diagnostics (metrics/lipschitz.py, the evaluation):

    xhat = a x_real + (1 - a) x_fake,  a ~ U[0, 1] per sample;   ||grad_x f(x)||_2 per sample.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from wgan_cli.distributed import WHOLE, Shard


def interpolate(real: Tensor, fake: Tensor, generator: torch.Generator | None = None, shard: Shard = WHOLE) -> Tensor:
    """Random points on the segments between paired real and fake samples, one weight per sample
    (drawn for the global batch; this rank's rows used)."""
    shape = (real.shape[0] * shard.world,) + (1,) * (real.dim() - 1)
    alpha = shard.rows(torch.rand(shape, device=real.device, dtype=real.dtype, generator=generator))
    return alpha * real + (1 - alpha) * fake


def input_gradient_norms(critic: nn.Module, x: Tensor, create_graph: bool = False) -> Tensor:
    """||grad_x f(x)||_2 per sample, over all non-batch dimensions."""
    x = x.detach().float().requires_grad_(True)
    with torch.autocast(device_type=x.device.type, enabled=False):
        out = critic(x)
        (grad,) = torch.autograd.grad(out.sum(), x, create_graph=create_graph)
    return torch.linalg.vector_norm(grad.flatten(1), dim=1)
