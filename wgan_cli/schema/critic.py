"""Config schemas of the Lipschitz strategies (group ``critic``); implementations in ``wgan_cli/critic/``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from wgan_cli.config import require
from wgan_cli.registry import Registry

STRATEGIES = Registry("critic")


@dataclass
class StrategyConfig:
    name: str = "none"
    has_network: ClassVar[bool] = True  # False: no critic network; the generator descends the strategy's ``generator_loss``

    def check(self) -> None:
        """Range checks of the values (the registry calls this before building)."""


@dataclass
class ClipConfig(StrategyConfig):
    name: str = "clip"
    c: float = 0.01

    def check(self) -> None:
        require(self.c > 0, "critic.c", self.c, "the clipping bound must be > 0")


@dataclass
class GPConfig(StrategyConfig):
    name: str = "gp"
    weight: float = 10.0  # lambda

    def check(self) -> None:
        require(self.weight >= 0, "critic.weight", self.weight, "the penalty weight must be >= 0")


@dataclass
class LPConfig(GPConfig):
    name: str = "lp"


@dataclass
class SNConfig(StrategyConfig):
    name: str = "sn"
    power_iterations: int = 1

    def check(self) -> None:
        require(self.power_iterations >= 1, "critic.power_iterations", self.power_iterations, "must be >= 1")


@dataclass
class OrthonormalConfig(StrategyConfig):
    name: str = "orthonormal"
    eps_bjorck: float = 1e-3  # Björck iterations stop once ||W_t+1 - W_t||_F < eps
    eps_spectral: float = 1e-3  # the power iteration's stopping tolerance

    def check(self) -> None:
        require(self.eps_bjorck > 0, "critic.eps_bjorck", self.eps_bjorck, "must be > 0")
        require(self.eps_spectral > 0, "critic.eps_spectral", self.eps_spectral, "must be > 0")


@dataclass
class SinkhornConfig(StrategyConfig):
    name: str = "sinkhorn"
    has_network: ClassVar[bool] = False  # the Sinkhorn divergence itself is the estimate
    blur: float = 0.05  # eps = blur: the entropic smoothing's length scale, in the data's units
    scaling: float = 0.9  # eps-scaling: the annealing factor per iteration (closer to 1: more accurate, slower)

    def check(self) -> None:
        require(self.blur > 0, "critic.blur", self.blur, "the entropic blur must be > 0 (it is in the data's units)")
        require(0 < self.scaling < 1, "critic.scaling", self.scaling, "must be in (0, 1)")


for _name, _schema in {"clip": ClipConfig, "gp": GPConfig, "lp": LPConfig, "sn": SNConfig,
                       "orthonormal": OrthonormalConfig, "sinkhorn": SinkhornConfig}.items():
    STRATEGIES.declare(_name, _schema, f"wgan_cli.critic.{_name}")
