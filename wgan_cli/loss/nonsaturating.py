"""The standard GAN (Goodfellow et al. 2014) with the non-saturating generator loss; f is a logit:

    critic:    -E_P log sigmoid(f(x)) - E_Q log(1 - sigmoid(f(x)))   (BCE with logits)
    generator: -E_Q log sigmoid(f(x))

At the optimal discriminator this is a Jensen-Shannon divergence, not W1."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from wgan_cli.loss.base import LOSSES, AdversarialLoss
from wgan_cli.schema.loss import NonSaturatingConfig


@LOSSES.register("nonsaturating", NonSaturatingConfig)
class NonSaturatingLoss(AdversarialLoss):
    is_wasserstein = False

    def critic(self, f_real: Tensor, f_fake: Tensor) -> Tensor:
        return F.softplus(-f_real).mean() + F.softplus(f_fake).mean()  # = BCE(f_real, 1) + BCE(f_fake, 0)

    def generator(self, f_fake: Tensor) -> Tensor:
        return F.softplus(-f_fake).mean()  # = BCE(f_fake, 1)
