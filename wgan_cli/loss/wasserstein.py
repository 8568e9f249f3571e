"""The Wasserstein loss (Arjovsky et al. 2017): by Kantorovich-Rubinstein duality

    W1(P, Q) = sup_{||f||_L <= 1} E_P f(x) - E_Q f(x),

so the critic minimizes E_Q f - E_P f and the generator minimizes -E_Q f."""

from __future__ import annotations

from torch import Tensor

from wgan_cli.loss.base import LOSSES, AdversarialLoss
from wgan_cli.schema.loss import WassersteinConfig


@LOSSES.register("wasserstein", WassersteinConfig)
class WassersteinLoss(AdversarialLoss):
    def critic(self, f_real: Tensor, f_fake: Tensor) -> Tensor:
        return f_fake.mean() - f_real.mean()

    def generator(self, f_fake: Tensor) -> Tensor:
        return -f_fake.mean()
