"""The interface of an adversarial loss: what the critic and the generator minimize,
given the critic's outputs on real and generated samples."""

from __future__ import annotations

from torch import Tensor

from wgan_cli.schema.loss import LOSSES, LossConfig  # noqa: F401  (re-exported)


class AdversarialLoss:
    is_wasserstein = True  # whether mean f(real) - mean f(fake) is a W1 estimate under this loss

    def __init__(self, cfg: LossConfig) -> None:
        self.cfg = cfg

    def critic(self, f_real: Tensor, f_fake: Tensor) -> Tensor:
        raise NotImplementedError

    def generator(self, f_fake: Tensor) -> Tensor:
        raise NotImplementedError


