"""The run's components, built from the registries, and one generator step on the host's side.

The pieces: ``run_state.py`` (the run's mutable state: ``Networks`` and ``RunState``), ``step.py``
(the optimizer updates, capturable as a CUDA graph), ``evaluation.py`` (W1 against ground truth),
``state.py`` (checkpoints and resume), ``records.py`` (what the run records as it trains),
``tasks.py`` (what runs every so many steps, on a ``TaskContext``) and ``loop.py`` (the loop).
"""

from __future__ import annotations

import logging
import os
import random
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from wgan_cli import threads
from wgan_cli.config import require
from wgan_cli.critic import STRATEGIES
from wgan_cli.cuda_graphs import StepGraph, lr_on_device
from wgan_cli.data import DATASETS
from wgan_cli.device import resolve_device
from wgan_cli.distributed import current_shard, wrap
from wgan_cli.loss import LOSSES
from wgan_cli.memory import device_available, exact_w1_bytes, host_available, require_fits, training_step_bytes
from wgan_cli.metrics.fid_monitor import FidMonitor
from wgan_cli.model import MODELS
from wgan_cli.nan_guard import LossWatch
from wgan_cli.resume import starting_checkpoint
from wgan_cli.rundir import RunDir
from wgan_cli.training import loop, quality, state
from wgan_cli.training.components import Diverged, check_shardable, update_ema, value
from wgan_cli.training.evaluation import Evaluator
from wgan_cli.training.probe import Probe
from wgan_cli.training.run_state import Networks, RunState
from wgan_cli.training.step import Step
from wgan_cli.validation import validate

log = logging.getLogger("wgan_cli")
FIXED_SAMPLES = 64  # the fixed noise batch behind ``samples/fixed``
PROBE_MIN_SAMPLES = 8  # a finite data set's probe reads on a quarter of it: at least 2 samples (a standard error)
# the schedule counts generator steps, taken or skipped (train.on_nan=skip may skip the first update)
warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`")


def check_memory(cfg: DictConfig, generator: nn.Module, critic: nn.Module, shape: tuple[int, ...],
                 double_backward: bool, device: torch.device) -> None:
    """Refuse a batch size or an ``eval.n`` that cannot fit, before the first step (see ``memory``)."""
    step = training_step_bytes(generator, critic, shape, cfg.model.noise_dim, double_backward)
    batch = max(cfg.batch_size, cfg.batch_size_g or 0)
    require_fits("batch_size" if batch == cfg.batch_size else "batch_size_g", batch, step, device_available(device),
                 "a training step")
    require_fits("eval.n", cfg.eval.n, exact_w1_bytes, host_available(),
                 "exact W1 at each evaluation (ot.emd2 on an eval.n x eval.n problem)",
                 "lower eval.n (w1/sliced scales to far more samples)")


class Trainer:
    def __init__(self, cfg: DictConfig, run_dir: Path) -> None:
        validate(cfg)
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.place(cfg)
        self.hydra_record = RunDir(self.run_dir).read_record()  # .hydra/*.yaml of this attempt, kept in checkpoints
        random.seed(cfg.seed)  # nothing of ours draws from python's or numpy's global RNG; seeded anyway
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.data = DATASETS.build(cfg.data, self.device)
        self.strategy = strategy = STRATEGIES.build(cfg.critic)
        self.loss = LOSSES.build(cfg.loss)
        self.critic_is_w1 = self.loss.is_wasserstein and strategy.estimates_w1
        if not strategy.has_network:  # the divergence itself is the estimate; the critic net stays untrained
            self.critic_is_w1 = strategy.estimates_w1
            require(len(self.data.shape) == 1, "critic", cfg.critic.name,
                    "compares flat samples (the toy data); image data needs a critic network (critic=gp, sn, ...)")
            require(self.shard.world == 1, "critic", cfg.critic.name,
                    "not over several processes (each rank would compare only its rows of the batch)")
        generator, critic = MODELS.build(cfg.model, self.data.shape)
        # the CPU threads, by the size of a step's forward passes (wgan_cli/threads.py); fixed for the run
        self.forward_flops = (threads.forward_flops(critic, torch.zeros(1, *self.data.shape), cfg.batch_size)
                              + threads.forward_flops(generator, torch.zeros(1, cfg.model.noise_dim), cfg.batch_size))
        self.threads, self.threads_auto = threads.apply(cfg.train.threads, self.forward_flops)
        check_memory(cfg, generator, critic, self.data.shape, strategy.needs_double_backward, self.device)
        generator, critic = generator.to(self.device), strategy.prepare(critic).to(self.device)
        self.nets = nets = Networks.build(cfg, generator, critic, self.device)
        # one generator drives all training randomness (data, noise, interpolation weights); under
        # torchrun every rank draws the same global stream and uses its own rows of each batch
        rng = torch.Generator(self.device).manual_seed(cfg.seed)
        # a fixed noise batch, saved with the run, for sample grids comparable across steps
        fixed_noise = torch.randn(FIXED_SAMPLES, cfg.model.noise_dim, device=self.device,
                                  generator=torch.Generator(self.device).manual_seed(cfg.seed + 1))
        self.state = RunState(rng, fixed_noise)
        self.watch = LossWatch(self.device) if value(cfg.train.on_nan) == "stop" else None
        # what the training steps call: under torchrun, DistributedDataParallel (gradients averaged)
        modules = {"G": nets.G, "D": nets.D, "G_train": wrap(nets.G, self.shard, self.device),
                   "D_train": wrap(nets.D, self.shard, self.device)}
        self.updates = Step(cfg, self.data, strategy, self.loss, modules, (nets.opt_g, nets.opt_d), self.state,
                            self.shard, self.device, skip_nan=self.watch is None)
        self.graph_off = self.why_no_graph()  # None: each generator step replays as one CUDA graph
        self.updates.graphed = self.graph_off is None
        self.make_capturable()
        self.changed_on_resume: list[str] = []  # "key old -> new" for each key this resume changed
        self.evaluator = Evaluator(cfg, self.data, strategy, self.critic_is_w1, self.device)
        self.probe = self.make_probe()
        with threads.during(threads.LARGE, self.threads_auto):  # the reference statistics: Inception
            self.fid = FidMonitor(cfg, self.data, self.device) if cfg.fid.every and self.shard.is_main else None
        self.run_updates = self.updates if self.graph_off else StepGraph(self.updates, [rng])
        # every component is built: a resumed run puts back its state (training/state.py)
        self.resumed_from = starting_checkpoint(cfg, self.run_dir)
        if self.resumed_from is not None:
            state.resume(self, self.resumed_from)

    def place(self, cfg: DictConfig) -> None:
        """The device (under torchrun, this rank's GPU), this process's shard of the batch, and
        deterministic algorithms where asked."""
        self.device = resolve_device(cfg.device.name)
        if self.device.type == "cuda":
            self.device = torch.device("cuda", torch.cuda.current_device())  # torchrun: this rank's GPU
        self.shard = current_shard()
        check_shardable(cfg, self.shard)
        if cfg.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required by deterministic cuBLAS
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False

    def make_probe(self) -> Probe | None:
        """The measuring critic of ``probe.every`` (rank 0 only), or None."""
        if not self.cfg.probe.every or not self.shard.is_main:
            return None
        if 0 < self.data.count() < PROBE_MIN_SAMPLES:
            log.warning("probe.every=%d: off, as data=%s holds %d samples; the probe reads on a quarter of them, "
                        "held out, and needs %d or more", self.cfg.probe.every, self.cfg.data.name, self.data.count(),
                        PROBE_MIN_SAMPLES)
            return None
        return Probe(self.cfg.probe, self.data.shape, self.device, self.cfg.seed)

    @property
    def quality_bar(self) -> str | None:
        """The run's quality bar (``training/quality.py``), or None."""
        return quality.bar(self.cfg, len(self.data.shape) == 1, self.fid_tag)

    @property
    def fid_tag(self) -> str | None:
        return self.fid.tag if self.fid is not None else None

    def quality_met(self, results: Mapping[str, float]) -> bool:
        """Whether ``results`` meet the run's quality bar (``training/quality.py``)."""
        return quality.met(results, self.cfg, len(self.data.shape) == 1, self.fid_tag)

    def why_no_graph(self) -> str | None:
        """Why the generator steps run eagerly, or None when they replay as a CUDA graph."""
        if not self.cfg.train.cuda_graph:
            return "train.cuda_graph=false"
        if self.device.type != "cuda":
            return "not on CUDA"
        if self.shard.world > 1:
            return "data parallel over several processes"
        if not self.strategy.capturable:
            return f"critic={self.cfg.critic.name} iterates to a tolerance checked on the host"
        if self.watch is None:
            return "train.on_nan=skip decides on the host at every update"
        if not self.data.on_device:
            return "the data streams from the host"
        return None

    def make_capturable(self) -> None:
        """When graphed: optimizers whose learning rates and step counts live on the device."""
        if self.graph_off is None:
            for opt in (self.nets.opt_g, self.nets.opt_d):
                lr_on_device(opt)

    @property
    def sampler(self) -> nn.Module:
        """The generator that samples and metrics use: the EMA copy once averaging has begun."""
        return self.nets.sampler(self.state.step, self.cfg.ema.start)

    def noise(self, n: int, generator: torch.Generator) -> Tensor:
        return self.updates.noise(n, generator)

    def train_step(self) -> dict[str, Tensor]:
        """One generator step: the optimizer updates (a CUDA graph's replay where possible), the NaN
        guard's bookkeeping, the EMA update and the schedulers; then ``step`` counts it."""
        stats, updates = self.run_updates()
        if self.watch is not None:
            for terms in updates:
                if self.watch.room() < len(terms):  # no log step for long: check now
                    self.check_finite()
                self.watch.add(self.state.step + 1, terms)
        nets = self.nets
        if nets.ema is not None and self.state.step >= self.cfg.ema.start:
            update_ema(nets.ema, nets.G, self.cfg.ema.decay)
        nets.sched_g.step()
        if self.strategy.has_network:  # else the critic's optimizer never steps
            nets.sched_d.step()
        self.state.step += 1
        return stats

    def check_finite(self) -> None:
        """``train.on_nan=stop``: raise ``Diverged`` naming the first step with a NaN or Inf loss.
        Called before anything is logged or saved, so the last checkpoint predates the divergence."""
        found = self.watch.first_bad() if self.watch is not None else None
        if found is None:
            return
        step, terms = found
        self.state.step = step - 1  # the last good step: what the run's summary reports as trained
        values = ", ".join(f"{name}={v}" for name, v in terms.items())
        last = RunDir(self.run_dir).last
        kept = f"the last good checkpoint is kept: {last}" if last.is_file() else "no checkpoint was written yet"
        raise Diverged(f"step {step}: {values}; stopped (train.on_nan=stop; skip drops such updates); {kept}")

    def evaluate(self) -> dict[str, float]:
        """The evaluation's metrics at the current step (``training/evaluation.py``), nothing logged."""
        return self.evaluator.evaluate(self.state.step, self.sampler, self.nets.D, self.noise).metrics

    def state_dict(self) -> dict[str, Any]:
        return state.state_dict(self)

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        state.load_state_dict(self, saved)

    def fit(self) -> dict[str, float]:
        return loop.fit(self)
