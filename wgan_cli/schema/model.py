"""Config schemas of the architectures (group ``model``); implementations in ``wgan_cli/model/``."""

from __future__ import annotations

from dataclasses import dataclass

from wgan_cli.config import require
from wgan_cli.registry import Registry

MODELS = Registry("model")


@dataclass
class ModelConfig:
    name: str = "none"
    noise_dim: int = 2

    def check(self) -> None:
        """Range checks of the values (the registry calls this before building)."""
        require(self.noise_dim >= 1, "model.noise_dim", self.noise_dim, "must be >= 1")
        for key in ("width", "depth", "channels", "g_channels", "d_channels"):
            if hasattr(self, key):
                require(getattr(self, key) >= 1, f"model.{key}", getattr(self, key), "must be >= 1")


@dataclass
class MLPConfig(ModelConfig):
    name: str = "mlp"
    noise_dim: int = 2
    width: int = 256  # the WGAN-GP toy code's 512 is no better on the 8 gaussians, at 3x the time
    depth: int = 3  # hidden layers


@dataclass
class CNNConfig(ModelConfig):
    name: str = "cnn32"
    noise_dim: int = 128
    channels: int = 64  # the smallest width; the others are 2x, 4x, 8x


@dataclass
class ResNetConfig(ModelConfig):
    name: str = "resnet32"
    noise_dim: int = 128
    g_channels: int = 128
    d_channels: int = 128


@dataclass
class ShiftConfig(ModelConfig):
    name: str = "shift"
    noise_dim: int = 1
    theta: float = 1.0  # initial shift
    width: int = 64  # critic
    depth: int = 2

    def check(self) -> None:
        super().check()
        require(self.noise_dim == 1, "model.noise_dim", self.noise_dim, "must be 1 for model=shift")


for _name, _schema, _module in [("mlp", MLPConfig, "mlp"), ("cnn32", CNNConfig, "cnn"),
                                ("resnet32", ResNetConfig, "resnet"), ("shift", ShiftConfig, "shift")]:
    MODELS.declare(_name, _schema, f"wgan_cli.model.{_module}")
