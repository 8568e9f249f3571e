"""Figures for TensorBoard."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import Tensor, nn  # noqa: E402

FIELD_RANGE = 3.0  # the WGAN-GP toy picture: the critic on a 128 x 128 grid over [-3, 3]^2
FIELD_POINTS = 128


@torch.no_grad()
def critic_field(critic: nn.Module, real: Tensor, fake: Tensor, title: str = "") -> Figure:
    """Real (orange) and generated (green) 2-D samples over a contour of the critic's value f."""
    lim = FIELD_RANGE
    axis = torch.linspace(-lim, lim, FIELD_POINTS, device=real.device)
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")
    values = critic(torch.stack([gx.flatten(), gy.flatten()], dim=1)).view(FIELD_POINTS, FIELD_POINTS)

    fig, ax = plt.subplots(figsize=(5, 5), dpi=80)
    contour = ax.contourf(gx.cpu().numpy(), gy.cpu().numpy(), values.float().cpu().numpy(), levels=20, cmap="viridis")
    fig.colorbar(contour, ax=ax, fraction=0.046, pad=0.04, label="critic f(x)")
    real_np, fake_np = real.float().cpu().numpy(), fake.float().cpu().numpy()
    ax.scatter(real_np[:, 0], real_np[:, 1], s=3, c="orange", marker="+", label="real")
    ax.scatter(fake_np[:, 0], fake_np[:, 1], s=3, c="lime", marker="+", label="generated")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8, markerscale=3)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def sample_grid(images: Tensor, nrow: int = 8) -> Tensor:
    """Images in [-1, 1], [N, C, H, W] -> one [C', H', W'] grid in [0, 1] (torchvision's make_grid)."""
    from torchvision.utils import make_grid

    return make_grid(images.detach().float().cpu(), nrow=nrow, normalize=True, value_range=(-1, 1), padding=2)
