"""Spectral normalization (Miyato et al. 2018, SN-GAN): every linear and convolutional layer's
weight W is divided by its largest singular value sigma(W), estimated by power iteration
(one step per forward pass in training mode). With 1-Lipschitz activations the composed
critic is then at most 1-Lipschitz -- usually well below."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from wgan_cli.critic.base import STRATEGIES, LipschitzStrategy
from wgan_cli.schema.critic import SNConfig

NORMALIZED_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)


@STRATEGIES.register("sn", SNConfig)
class SpectralNormalization(LipschitzStrategy):
    def prepare(self, critic: nn.Module) -> nn.Module:
        for module in list(critic.modules()):
            if isinstance(module, NORMALIZED_LAYERS):
                spectral_norm(module, n_power_iterations=self.cfg.power_iterations)
        return critic
