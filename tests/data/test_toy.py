"""The toy distributions at the WGAN-GP toy code's scales."""

from __future__ import annotations

import math

import torch

from wgan_cli.data import DATASETS

from helpers import compose_config


def sample(name: str, n: int = 4000, seed: int = 0) -> torch.Tensor:
    cfg = compose_config(f"data={name}").data
    source = DATASETS.build(cfg, torch.device("cpu"))
    return source.sample(n, torch.Generator().manual_seed(seed))


def nearest(points: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d = torch.cdist(points, centers)
    return d.min(dim=1)


def test_gaussians8_has_eight_equal_modes_on_the_scaled_circle():
    x = sample("gaussians8")
    angles = torch.arange(8) * math.pi / 4
    centers = 2 * torch.stack([angles.cos(), angles.sin()], 1) / 1.414
    dist, idx = nearest(x, centers)
    assert dist.max() < 6 * 0.02 / 1.414  # within 6 std of a mode
    counts = torch.bincount(idx, minlength=8).float()
    assert (counts / len(x) - 1 / 8).abs().max() < 0.02
    assert torch.allclose(dist.pow(2).mean().sqrt(), torch.tensor(math.sqrt(2) * 0.02 / 1.414), rtol=0.1)


def test_gaussians25_covers_the_grid():
    x = sample("gaussians25")
    grid = torch.arange(-4.0, 5.0, 2.0)
    centers = torch.cartesian_prod(grid, grid) / 2.828
    dist, idx = nearest(x, centers)
    assert dist.max() < 6 * 0.05 / 2.828
    assert torch.bincount(idx, minlength=25).min() > 0.5 * len(x) / 25


def test_swissroll_radius_and_angle_follow_the_spiral():
    x = sample("swissroll", n=2000) * 7.5  # undo the scale: radius == angle t in [1.5 pi, 4.5 pi]
    r = x.norm(dim=1)
    assert r.min() > 1.5 * math.pi - 1.5 and r.max() < 4.5 * math.pi + 1.5
    assert x.abs().max() / 7.5 < 2.0


def test_sampling_is_reproducible_from_the_generator_state():
    assert torch.equal(sample("gaussians8", 100, seed=3), sample("gaussians8", 100, seed=3))
    assert not torch.equal(sample("gaussians8", 100, seed=3), sample("gaussians8", 100, seed=4))
