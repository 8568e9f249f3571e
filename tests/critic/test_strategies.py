"""The Lipschitz strategies: clipping bounds, the GP formula, per-sample interpolation, SN."""

from __future__ import annotations

import torch
from helpers import FAST, ROOT, compose_config
from torch import nn

from wgan_cli.critic import STRATEGIES
from wgan_cli.critic.clip import ClipConfig
from wgan_cli.critic.gp import GPConfig
from wgan_cli.critic.sn import SNConfig
from wgan_cli.gradients import input_gradient_norms, interpolate
from wgan_cli.model.mlp import MLPConfig, build_mlp
from wgan_cli.training import Trainer


class Linear(nn.Module):
    """f(x) = w . x over all non-batch dimensions."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).flatten(1).sum(1)


def test_every_critic_option_selects_a_registered_strategy_and_every_strategy_has_one():
    options = {p.stem: compose_config(f"critic={p.stem}").critic.name for p in (ROOT / "configs" / "critic").glob("*.yaml")}
    assert len(options) >= 6 and set(options.values()) == set(STRATEGIES.names())


def test_clip_step_keeps_every_critic_weight_within_c(tmp_path):
    cfg = compose_config("critic=clip", "critic.c=0.05", "optim.lr_d=0.5", "optim.lr_g=0.5", "steps=1", *FAST)
    trainer = Trainer(cfg, tmp_path)
    with torch.no_grad():
        for p in trainer.nets.D.parameters():
            p.normal_(0, 1)  # far outside [-c, c]
    trainer.train_step()
    params = torch.cat([p.detach().flatten() for p in trainer.nets.D.parameters()])
    assert params.abs().max() <= 0.05 + 1e-7
    # a large learning rate pushes many weights onto the boundary (the WGAN-GP paper's Fig. 1b)
    assert (params.abs() > 0.05 - 1e-6).float().mean() > 0.5


def test_gp_of_a_linear_critic_is_lambda_times_norm_minus_one_squared():
    torch.manual_seed(0)
    w = torch.tensor([3.0, -4.0])  # |w| = 5
    gp = STRATEGIES.build(GPConfig(weight=10.0))
    real, fake = torch.randn(64, 2), torch.randn(64, 2)
    value = gp.penalty(Linear(w), real, fake, None)
    assert torch.isclose(value, torch.tensor(10.0 * (5 - 1) ** 2))


def test_gp_norm_is_over_all_non_batch_dimensions_of_image_inputs():
    torch.manual_seed(0)
    w = torch.randn(3, 4, 4)
    norms = input_gradient_norms(Linear(w), torch.randn(8, 3, 4, 4))
    assert torch.allclose(norms, torch.full((8,), w.norm().item()), rtol=1e-5)
    gp = STRATEGIES.build(GPConfig(weight=2.0))
    value = gp.penalty(Linear(w), torch.randn(8, 3, 4, 4), torch.randn(8, 3, 4, 4), None)
    assert torch.isclose(value, 2.0 * (w.norm() - 1) ** 2, rtol=1e-5)


def test_gp_penalty_has_a_gradient_for_the_critic_weights():
    w = torch.tensor([3.0, -4.0])
    critic = Linear(w)
    gp = STRATEGIES.build(GPConfig(weight=1.0))
    gp.penalty(critic, torch.randn(16, 2), torch.randn(16, 2), None).backward()
    # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    assert torch.allclose(critic.w.grad, 2 * (5 - 1) * w / 5, rtol=1e-5)


def test_interpolation_weights_are_one_per_sample():
    torch.manual_seed(0)
    real, fake = torch.rand(16, 3, 8, 8) + 1, -torch.rand(16, 3, 8, 8) - 1
    x = interpolate(real, fake, torch.Generator().manual_seed(1))
    alpha = (x - fake) / (real - fake)
    per_sample = alpha.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample), atol=1e-5)
    assert per_sample[:, 0].std() > 0.1  # and different samples get different weights
    assert ((per_sample >= 0) & (per_sample <= 1)).all()


def test_spectral_norm_makes_every_critic_layer_unit_norm():
    torch.manual_seed(0)
    _, critic = build_mlp(MLPConfig(width=64, depth=3), (2,))
    critic = STRATEGIES.build(SNConfig(power_iterations=1)).prepare(critic)
    for _ in range(30):  # power iteration runs once per training-mode forward
        critic(torch.randn(8, 2))
    critic.eval()
    linears = [m for m in critic.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 4
    for layer in linears:
        sigma = torch.linalg.matrix_norm(layer.weight.detach(), ord=2)
        assert abs(sigma.item() - 1.0) < 1e-2, sigma


def test_bad_strategy_values_are_config_errors():
    import pytest

    from wgan_cli.errors import ConfigError

    with pytest.raises(ConfigError, match=r"critic\.c=-1"):
        STRATEGIES.build(ClipConfig(c=-1))
    with pytest.raises(ConfigError, match=r"critic\.weight=-2"):
        STRATEGIES.build(GPConfig(weight=-2))
