"""A model entry builds the pair (generator, critic) for a data shape.

The generator maps noise z ~ N(0, I) of shape [B, noise_dim] to samples of the data shape;
the critic maps samples to one real number each, shape [B].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from wgan_cli.registry import Registry


@dataclass
class ModelConfig:
    name: str = "none"
    noise_dim: int = 2


ModelBuilder = Callable[[ModelConfig, tuple], "tuple[nn.Module, nn.Module]"]
MODELS: Registry[ModelBuilder] = Registry("model")
