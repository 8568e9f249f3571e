"""A run's mutable state, in two plain objects: ``Networks`` (the generator, the critic, their
optimizers and schedules, the generator's moving average) and ``RunState`` (the step, training's
random stream, the fixed noise, the skipped updates and the records). ``training/state.py`` saves
both in a checkpoint and restores both, once every component is built."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from wgan_cli.cuda_graphs import portable
from wgan_cli.training.components import make_optimizer, make_scheduler
from wgan_cli.training.records import Records

log = logging.getLogger("wgan_cli")
Optimizer = torch.optim.Optimizer
Scheduler = torch.optim.lr_scheduler.LRScheduler


@dataclass
class Networks:
    """The networks and what updates them. ``ema``: theta_ema <- decay theta_ema + (1 - decay) theta
    after each generator step from ``ema.start`` on (None when ``ema.decay`` is 0)."""

    G: nn.Module
    D: nn.Module
    opt_g: Optimizer
    opt_d: Optimizer
    sched_g: Scheduler
    sched_d: Scheduler
    ema: AveragedModel | None

    @classmethod
    def build(cls, cfg: DictConfig, generator: nn.Module, critic: nn.Module, device: torch.device) -> Networks:
        """Optimizers by ``optim``, schedules over ``steps``, the moving average by ``ema.decay``."""
        opt_g = make_optimizer(cfg.optim, generator.parameters(), cfg.optim.lr_g, device)
        opt_d = make_optimizer(cfg.optim, critic.parameters(), cfg.optim.lr_d, device)
        ema = (AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema.decay), use_buffers=True)
               if cfg.ema.decay > 0 else None)
        return cls(generator, critic, opt_g, opt_d, make_scheduler(cfg.optim, opt_g, cfg.steps),
                   make_scheduler(cfg.optim, opt_d, cfg.steps), ema)

    def sampler(self, step: int, ema_start: int) -> nn.Module:
        """The generator that samples and metrics use: the EMA copy once averaging has begun."""
        return self.ema.module if self.ema is not None and step > ema_start else self.G

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.G.state_dict(), "critic": self.D.state_dict(),
                "ema": None if self.ema is None else self.ema.state_dict(),
                "opt_g": portable(self.opt_g.state_dict()), "opt_d": portable(self.opt_d.state_dict()),
                "sched_g": self.sched_g.state_dict(), "sched_d": self.sched_d.state_dict()}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """What ``state_dict`` saved; the optimizers come back with float learning rates (the
        caller makes them capturable again where a CUDA graph needs it). A moving average the
        checkpoint lacks (``ema.decay`` turned on at resume) starts from the saved generator."""
        self.G.load_state_dict(saved["generator"])
        self.D.load_state_dict(saved["critic"])
        if self.ema is not None and saved.get("ema") is not None:
            self.ema.load_state_dict(saved["ema"])
        elif self.ema is not None:  # saved with ema.decay=0: the average starts here, from the generator
            self.ema.module.load_state_dict(saved["generator"])
            log.info("ema: the checkpoint keeps no moving average (it ran with ema.decay=0); the average starts "
                     "from its generator now")
        for name in ("opt_g", "opt_d", "sched_g", "sched_d"):
            getattr(self, name).load_state_dict(saved[name])


@dataclass
class RunState:
    """Where the run is: ``step`` (generator steps taken), ``rng`` (the one stream behind the data,
    the noise and the penalty's interpolation weights), ``fixed_noise`` (the batch behind the sample
    grids), ``skipped`` (updates dropped under ``train.on_nan=skip``) and ``records``."""

    rng: torch.Generator
    fixed_noise: Tensor
    step: int = 0
    skipped: int = 0
    records: Records = field(default_factory=Records)

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "rng": self.rng.get_state(), "fixed_noise": self.fixed_noise,
                **self.records.state_dict(), "skipped": self.skipped}

    def load_state_dict(self, saved: dict[str, Any], device: torch.device) -> None:
        """What ``state_dict`` saved; the random stream through ``restore_rng`` (across device types)."""
        self.step = saved["step"]
        restore_rng(self.rng, saved["rng"], device)
        self.fixed_noise = saved["fixed_noise"].to(device)
        self.skipped = saved.get("skipped", 0)
        self.records.load_state_dict(saved)


def restore_rng(rng: torch.Generator, saved: Tensor, device: torch.device) -> None:
    """The training generator's saved state. A CPU generator (Mersenne Twister, 5056 bytes) and a
    CUDA one (Philox seed and offset, 16 bytes) cannot take each other's state: across that device
    change the stream is reseeded from a hash of the saved state, the same seed on every resume."""
    if saved.numel() == rng.get_state().numel():
        rng.set_state(saved)
        return
    seed = int.from_bytes(hashlib.sha256(saved.cpu().numpy().tobytes()).digest()[:8], "little") >> 1
    rng.manual_seed(seed)
    log.info("the checkpoint's random stream was drawn on another device type; reseeded for %s, so the "
             "run from here differs from one that stayed there", device.type)
