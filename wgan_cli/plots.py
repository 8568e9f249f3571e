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
    """Generated (white) and, on top, real (red) 2-D samples over a contour of the critic's value f;
    large text and a legend below the axes, so that TensorBoard's small card stays readable."""
    lim = FIELD_RANGE
    axis = torch.linspace(-lim, lim, FIELD_POINTS, device=real.device)
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")
    values = critic(torch.stack([gx.flatten(), gy.flatten()], dim=1)).view(FIELD_POINTS, FIELD_POINTS)

    fig, ax = plt.subplots(figsize=(5, 5.6), dpi=100)
    contour = ax.contourf(gx.cpu().numpy(), gy.cpu().numpy(), values.float().cpu().numpy(), levels=20, cmap="viridis")
    bar = fig.colorbar(contour, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("critic f(x)", fontsize=12)
    real_np, fake_np = real.float().cpu().numpy(), fake.float().cpu().numpy()
    ax.scatter(fake_np[:, 0], fake_np[:, 1], s=10, c="white", edgecolors="black", linewidths=0.3, alpha=0.8,
               label="generated", zorder=2)
    ax.scatter(real_np[:, 0], real_np[:, 1], s=10, c="#e41a1c", edgecolors="white", linewidths=0.3,
               label="real", zorder=3)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize=12, markerscale=2.5,
              frameon=False)
    if title:
        ax.set_title(title, fontsize=12)
    fig.tight_layout()
    return fig


GRID_MIN_SIDE = 512  # pixels: smaller grids are upscaled (nearest neighbour) to at least this side


def sample_grid(images: Tensor, nrow: int = 8) -> Tensor:
    """Images in [-1, 1], [N, C, H, W] -> one [C', H', W'] grid in [0, 1] (torchvision's make_grid),
    upscaled by an integer factor (nearest neighbour: pixels stay sharp squares) to at least
    ``GRID_MIN_SIDE`` pixels a side, so that 16-pixel digits are readable on the card."""
    from torchvision.utils import make_grid  # lazy: torchvision loads only where it is used

    grid = make_grid(images.detach().float().cpu(), nrow=nrow, normalize=True, value_range=(-1, 1), padding=2)
    factor = max(1, -(-GRID_MIN_SIDE // max(grid.shape[-2:])))
    return grid.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1) if factor > 1 else grid
