"""Config schemas of the adversarial losses (group ``loss``); implementations in ``wgan_cli/loss/``."""

from __future__ import annotations

from dataclasses import dataclass

from wgan_cli.registry import Registry

LOSSES = Registry("loss")


@dataclass
class LossConfig:
    name: str = "none"


@dataclass
class WassersteinConfig(LossConfig):
    name: str = "wasserstein"


@dataclass
class HingeConfig(LossConfig):
    name: str = "hinge"


@dataclass
class NonSaturatingConfig(LossConfig):
    name: str = "nonsaturating"


for _name, _schema in {"wasserstein": WassersteinConfig, "hinge": HingeConfig,
                       "nonsaturating": NonSaturatingConfig}.items():
    LOSSES.declare(_name, _schema, f"wgan_cli.loss.{_name}")
