"""The hinge loss (Lim & Ye 2017; the SN-GAN paper's best):

    critic:    E_P max(0, 1 - f(x)) + E_Q max(0, 1 + f(x))
    generator: -E_Q f(x)

mean f(real) - mean f(fake) is then the critic's mean gap, not a W1 estimate."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from wgan_cli.loss.base import LOSSES, AdversarialLoss
from wgan_cli.schema.loss import HingeConfig


@LOSSES.register("hinge", HingeConfig)
class HingeLoss(AdversarialLoss):
    is_wasserstein = False

    def critic(self, f_real: Tensor, f_fake: Tensor) -> Tensor:
        return F.relu(1 - f_real).mean() + F.relu(1 + f_fake).mean()

    def generator(self, f_fake: Tensor) -> Tensor:
        return -f_fake.mean()
