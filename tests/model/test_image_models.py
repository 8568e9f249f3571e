"""The image models (model/cnn.py, model/resnet.py): output shapes, what they refuse, and their critics
under spectral normalization and the gradient penalty."""

from __future__ import annotations


import pytest
import torch

from wgan_cli.critic import STRATEGIES
from wgan_cli.critic.gp import GPConfig
from wgan_cli.critic.sn import SNConfig
from wgan_cli.errors import ConfigError
from wgan_cli.model import MODELS

from helpers import compose_config


@pytest.mark.parametrize("model", ["cnn32", "resnet32"])
@pytest.mark.parametrize("shape", [(1, 16, 16), (3, 32, 32), (1, 32, 32)])
@pytest.mark.slow
def test_image_models_output_shapes(model, shape):
    cfg = compose_config(f"model={model}").model
    G, D = MODELS.get(model)(cfg, shape)
    x = G(torch.randn(4, cfg.noise_dim))
    assert x.shape == (4, *shape) and x.abs().max() <= 1
    assert D(x).shape == (4,)


@pytest.mark.parametrize("model", ["cnn32", "resnet32"])
def test_image_models_refuse_what_they_cannot_serve(model):
    cfg = compose_config(f"model={model}").model
    with pytest.raises(ConfigError, match="data.size=28.*multiple of 8"):
        MODELS.get(model)(cfg, (1, 28, 28))
    with pytest.raises(ConfigError, match="needs image data"):
        MODELS.get(model)(cfg, (2,))


@pytest.mark.parametrize("model", ["cnn32", "resnet32"])
def test_sn_gives_every_conv_critic_layer_unit_spectral_norm(model):
    torch.manual_seed(0)
    cfg = compose_config(f"model={model}").model
    _, D = MODELS.get(model)(cfg, (3, 32, 32))
    D = STRATEGIES.build(SNConfig(power_iterations=1)).prepare(D)
    D.train()
    with torch.no_grad():
        for _ in range(30):  # let the power iteration converge
            D(torch.randn(2, 3, 32, 32))
    layers = [m for m in D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(layers) >= 5
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.02)


def test_gp_on_a_conv_critic_penalizes_the_per_sample_gradient_norm():
    torch.manual_seed(0)
    cfg = compose_config("model=cnn32", "model.channels=8").model
    _, D = MODELS.get("cnn32")(cfg, (3, 16, 16))
    real, fake = torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16)
    value = STRATEGIES.build(GPConfig(weight=10.0)).penalty(D, real, fake, torch.Generator().manual_seed(7))
    # the same interpolates, one sample at a time
    eps = torch.rand(4, 1, 1, 1, generator=torch.Generator().manual_seed(7))
    norms = []
    for i in range(4):
        x = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).unsqueeze(0).requires_grad_(True)
        (grad,) = torch.autograd.grad(D(x).sum(), x)
        norms.append(grad.flatten().norm())
    expected = 10.0 * ((torch.stack(norms) - 1) ** 2).mean()
    assert value.item() == pytest.approx(expected.item(), rel=1e-4)
