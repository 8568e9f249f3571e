"""An example wgan-cli plugin: the WGAN-div critic (``critic=div``, below) and the energy distance as
a periodic metric (``+tasks=energy``, ``energy.py``).

WGAN-div (Wu et al. 2018, "Wasserstein Divergence for GANs"), an example wgan-cli plugin.

    penalty = k * E_xhat[ ||grad f(xhat)||_2 ^ p ],   k = 2, p = 6 (the paper's best),

on random interpolates of real and fake pairs, as ``critic=gp`` samples them (the paper allows any
mixture of the two distributions). Unlike the gradient penalty it pulls no gradient norm up toward
1: the W-div objective is a divergence, not a constrained W1 estimate, so ``estimates_w1`` is False
and the dashboard labels ``w1/critic`` as the critic's mean gap.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from wgan_cli.config import require
from wgan_cli.critic import STRATEGIES
from wgan_cli.critic.gp import GPConfig, GradientPenalty
from wgan_div import energy  # noqa: F401  (registers the energy task)


@dataclass
class DivConfig(GPConfig):
    name: str = "div"
    weight: float = 2.0  # k
    power: float = 6.0  # p

    def check(self) -> None:
        super().check()
        require(self.power >= 1, "critic.power", self.power, "must be >= 1")


@STRATEGIES.register("div", DivConfig)
class WassersteinDivergence(GradientPenalty):
    estimates_w1 = False

    def excess(self, norms: Tensor) -> Tensor:
        return norms ** self.cfg.power
