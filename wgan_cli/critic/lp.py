"""One-sided gradient penalty (Petzka et al. 2018, WGAN-LP).

    penalty = lambda * E_xhat[max(0, ||grad f(xhat)||_2 - 1)^2]

Only gradient norms above 1 are penalized: the KR constraint is ||grad f|| <= 1, not = 1.
Sampling as ``gp`` (random interpolates of real and fake pairs).
"""

from __future__ import annotations

from torch import Tensor

from wgan_cli.critic.base import STRATEGIES
from wgan_cli.critic.gp import GradientPenalty
from wgan_cli.schema.critic import LPConfig


@STRATEGIES.register("lp", LPConfig)
class LipschitzPenalty(GradientPenalty):
    @staticmethod
    def excess(norms: Tensor) -> Tensor:
        return (norms - 1).clamp(min=0) ** 2
