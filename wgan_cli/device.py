"""Resolve the ``device`` config group to a ``torch.device``."""

from __future__ import annotations

import torch

from wgan_cli.config import DEVICES
from wgan_cli.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ConfigError(
            f"device=cuda: no CUDA device is available (torch {torch.__version__}, {build}); "
            "use device=cpu or device=auto"
        )
    if name not in DEVICES:
        raise ConfigError(f"device={name}: choose one of {', '.join(DEVICES)}")
    return torch.device(name)
