"""What a run is built from, beside the registries' components: optimizers and their schedules,
the generator's exponential moving average, and the checks a data-parallel run needs."""

from __future__ import annotations

import itertools
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn
from torch.optim.swa_utils import AveragedModel

from wgan_cli.distributed import Shard
from wgan_cli.errors import ConfigError, UserError


class Diverged(UserError):
    """A NaN or Inf loss under ``train.on_nan=stop``."""


def value(enum_or_str: Any) -> str:
    """The text of a config enum (or of a plain string)."""
    return str(getattr(enum_or_str, "value", enum_or_str))


def make_optimizer(cfg: Any, params, lr: float, device: torch.device) -> torch.optim.Optimizer:  # noqa: ANN001
    if value(cfg.name) == "adam":  # on CUDA one fused kernel updates every tensor
        return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas), fused=device.type == "cuda" or None)
    return torch.optim.RMSprop(params, lr=lr)


def make_scheduler(cfg: Any, optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Stepped once per generator step; ``linear``: lr_t = lr (1 - t / steps), zero after the last one."""
    if value(cfg.decay) == "linear":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: max(0.0, 1.0 - t / steps))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 1.0)


def check_shardable(cfg: DictConfig, shard: Shard) -> None:
    """Under torchrun: batches split evenly over the ranks, and every rank takes every update."""
    if shard.world == 1:
        return
    for key in ("batch_size", "batch_size_g"):
        size = cfg[key]
        if size is not None and size % shard.world:
            raise ConfigError(f"{key}={size}: split over {shard.world} processes (torchrun or submitit tasks), "
                              f"the global batch must divide by {shard.world}")
    if value(cfg.train.on_nan) == "skip":
        raise ConfigError("train.on_nan=skip: not over several processes (a rank skipping an update would leave the "
                          "others waiting); use stop")


def update_ema(ema: AveragedModel, model: nn.Module, decay: float) -> None:
    """theta_ema <- decay theta_ema + (1 - decay) theta: ``ema.update_parameters(model)`` with
    ``get_ema_multi_avg_fn(decay)``, the same to the bit, without its host synchronization (it
    copies the CPU counter ``n_averaged`` to the device at every update): the first update copies,
    later ones lerp by 1 - decay."""
    if int(ema.n_averaged) == 0:
        ema.update_parameters(model)
        return
    pairs = zip(itertools.chain(ema.module.parameters(), ema.module.buffers()),
                itertools.chain(model.parameters(), model.buffers()), strict=True)
    for averaged, current in pairs:
        averaged, current = averaged.detach(), current.detach()
        if averaged.is_floating_point():
            averaged.lerp_(current, 1 - decay)
        else:  # integer buffers (BatchNorm's counter), as torch rounds them
            averaged.copy_(averaged * decay + current * (1 - decay))
    ema.n_averaged += 1
