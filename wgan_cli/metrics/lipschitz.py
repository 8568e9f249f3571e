"""How Lipschitz the critic f really is.

- Gradient norms ||grad f(x)||_2 at given points (mean, max, fraction above 1).
- The empirical constant L_emp = max over sampled pairs |f(x) - f(y)| / ||x - y||_2, a lower
  bound on Lip(f); so (E_P f - E_Q f) / L_emp <= W1(P, Q) for any critic (``w1/critic_scaled``).
- For a feed-forward critic (Linear / Conv2d layers and 1-Lipschitz activations only) the upper
  bound prod_l ||W_l||_op, each operator norm by power iteration on the layer's linear map at
  its input shape (for a convolution this is the norm of the convolution itself, not of the
  reshaped kernel matrix that spectral normalization divides by).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from wgan_cli.gradients import input_gradient_norms


def gradient_norm_stats(critic: nn.Module, x: Tensor, name: str) -> dict[str, float]:
    norms = input_gradient_norms(critic, x)
    return {
        f"lipschitz/grad_norm_{name}_mean": norms.mean().item(),
        f"lipschitz/grad_norm_{name}_max": norms.max().item(),
        f"lipschitz/grad_norm_{name}_frac_above_1": (norms > 1).float().mean().item(),
    }


@torch.no_grad()
def empirical_lipschitz(critic: nn.Module, x: Tensor, y: Tensor, eps: float = 1e-12) -> float:
    """max over all pairs (x_i, y_j) of |f(x_i) - f(y_j)| / ||x_i - y_j||_2."""
    fx, fy = critic(x).flatten(), critic(y).flatten()
    dist = torch.cdist(x.flatten(1).double(), y.flatten(1).double())
    ratio = (fx.double()[:, None] - fy.double()[None, :]).abs() / dist.clamp(min=eps)
    return ratio[dist > eps].max().item() if bool((dist > eps).any()) else 0.0


def is_feed_forward(critic: nn.Module) -> bool:
    """Whether the critic composes only Linear/Conv2d layers and 1-Lipschitz activations
    (so that the product of operator norms bounds its Lipschitz constant)."""
    return bool(getattr(critic, "feed_forward", False))


def operator_norm(layer: nn.Module, input_shape: tuple[int, ...], iters: int = 50) -> float:
    """||x -> layer(x) - layer(0)||_op at one input of ``input_shape``, by power iteration."""
    bias = getattr(layer, "bias", None)
    x0 = torch.zeros((1, *input_shape), device=bias.device if bias is not None else None)

    def linear(x: Tensor) -> Tensor:
        return layer(x) - layer(x0)

    g = torch.Generator(device=x0.device).manual_seed(0)
    v = torch.randn(x0.shape, device=x0.device, generator=g)
    v = v / v.norm()
    sigma = 0.0
    for _ in range(iters):
        x = v.detach().requires_grad_(True)
        u = linear(x)
        (w,) = torch.autograd.grad(u, x, u)  # W^T W v
        sigma = u.norm().item()
        v = w / w.norm().clamp(min=1e-30)
    return sigma


def spectral_bound(critic: nn.Module, example: Tensor) -> float | None:
    """prod_l ||W_l||_op for a feed-forward critic (None otherwise)."""
    if not is_feed_forward(critic):
        return None
    shapes: dict[nn.Module, tuple[int, ...]] = {}

    def record(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        shapes.setdefault(module, tuple(inputs[0].shape[1:]))

    hooks = [m.register_forward_hook(record) for m in critic.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    try:
        with torch.no_grad():
            critic(example[:1])
    finally:
        for h in hooks:
            h.remove()
    bound = 1.0
    with torch.enable_grad():
        for layer, shape in shapes.items():
            bound *= operator_norm(layer, shape)
    return bound
