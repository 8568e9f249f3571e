"""The one training loop.

For each generator step: ``n_critic`` critic steps (each: critic loss + the strategy's
penalty, optimizer step, the strategy's ``after_step``), then one generator step. Every
``eval.every`` steps the critic's held-out KR estimate is compared with the exact W1.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from wgan_cli.checkpoint import keep_last, load_checkpoint, rng_state, save_atomic, set_rng_state
from wgan_cli.config import validate
from wgan_cli.critic import STRATEGIES
from wgan_cli.critic.gp import interpolate
from wgan_cli.data import DATASETS
from wgan_cli.device import resolve_device
from wgan_cli.divergence import LossWatch
from wgan_cli.distributed import Shard, any_rank, barrier, current_shard, mean_over_ranks, wrap
from wgan_cli.errors import ConfigError, UserError
from wgan_cli.graphs import WARMUP, StepGraph, lr_on_device, portable
from wgan_cli.interrupts import Interrupted, StopRequests
from wgan_cli.loss import LOSSES
from wgan_cli.metrics.fid_monitor import FidMonitor
from wgan_cli.metrics.lipschitz import empirical_lipschitz, gradient_norm_stats, spectral_bound
from wgan_cli.metrics.w1 import exact_w1, sliced_w1
from wgan_cli.model import MODELS
from wgan_cli.plots import critic_field, sample_grid
from wgan_cli.sweep import METRICS
from wgan_cli.resume import check_compatible, config_diffs, hydra_record, restore_hydra_record, starting_checkpoint
from wgan_cli.tracking import Tracker

log = logging.getLogger("wgan_cli")
FIXED_SAMPLES = 64  # the fixed noise batch behind ``samples/fixed``


def _value(enum_or_str: Any) -> str:
    return str(getattr(enum_or_str, "value", enum_or_str))


def make_optimizer(cfg: Any, params, lr: float, device: torch.device) -> torch.optim.Optimizer:  # noqa: ANN001
    if _value(cfg.name) == "adam":  # on CUDA one fused kernel updates every tensor
        return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas), fused=device.type == "cuda" or None)
    return torch.optim.RMSprop(params, lr=lr)


def make_scheduler(cfg: Any, optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Stepped once per generator step; ``linear`` reaches zero after the last one."""
    if _value(cfg.decay) == "linear":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: max(0.0, 1.0 - t / steps))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 1.0)


def check_shardable(cfg: DictConfig, shard: Shard) -> None:
    """Under torchrun: batches split evenly over the ranks, and every rank takes every update."""
    if shard.world == 1:
        return
    for key in ("batch_size", "batch_size_g"):
        value = cfg[key]
        if value is not None and value % shard.world:
            raise ConfigError(f"{key}={value}: split over {shard.world} processes (torchrun or submitit tasks), "
                              f"the global batch must divide by {shard.world}")
    if _value(cfg.train.on_nan) == "skip":
        raise ConfigError("train.on_nan=skip: not over several processes (a rank skipping an update would leave the "
                          "others waiting); use stop")


def update_ema(ema: AveragedModel, model: nn.Module, decay: float) -> None:
    """``ema.update_parameters(model)`` with ``get_ema_multi_avg_fn(decay)``, the same to the bit,
    without its host synchronization (it copies the CPU counter ``n_averaged`` to the device at
    every update): the first update copies, later ones lerp by 1 - decay."""
    if int(ema.n_averaged) == 0:
        ema.update_parameters(model)
        return
    pairs = zip(itertools.chain(ema.module.parameters(), ema.module.buffers()),
                itertools.chain(model.parameters(), model.buffers()), strict=True)
    floats, others = [], []
    for averaged, current in pairs:
        (floats if averaged.is_floating_point() else others).append((averaged.detach(), current.detach()))
    if floats:
        torch._foreach_lerp_([a for a, _ in floats], [c for _, c in floats], 1 - decay)
    for averaged, current in others:  # integer buffers (BatchNorm's counter), as torch rounds them
        averaged.copy_(averaged * decay + current * (1 - decay))
    ema.n_averaged += 1


class Diverged(UserError):
    """A NaN or Inf loss under ``train.on_nan=stop``."""


class Trainer:
    def __init__(self, cfg: DictConfig, run_dir: Path) -> None:
        validate(cfg)
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.device = resolve_device(cfg.device.name)
        if self.device.type == "cuda":
            self.device = torch.device("cuda", torch.cuda.current_device())  # torchrun: this rank's GPU
        self.shard = current_shard()
        check_shardable(cfg, self.shard)
        self.bf16 = _value(cfg.train.amp) == "bf16"
        if cfg.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required by deterministic cuBLAS
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        self.hydra_record = hydra_record(self.run_dir)  # .hydra/*.yaml of this attempt, kept in checkpoints
        random.seed(cfg.seed)  # nothing of ours draws from python's or numpy's global RNG; seeded anyway
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.data = DATASETS.build(cfg.data, self.device)
        self.strategy = STRATEGIES.build(cfg.critic)
        self.loss = LOSSES.build(cfg.loss)
        self.critic_is_w1 = self.loss.is_wasserstein and self.strategy.estimates_w1
        generator, critic = MODELS.get(cfg.model.name)(cfg.model, self.data.shape)
        self.G = generator.to(self.device)
        self.g_batch_norm = any(isinstance(m, _BatchNorm) for m in self.G.modules())
        self.D = self.strategy.prepare(critic).to(self.device)
        # what the training steps call: under torchrun, DistributedDataParallel (gradients averaged)
        self.G_train, self.D_train = wrap(self.G, self.shard, self.device), wrap(self.D, self.shard, self.device)
        self.opt_g = make_optimizer(cfg.optim, self.G.parameters(), cfg.optim.lr_g, self.device)
        self.opt_d = make_optimizer(cfg.optim, self.D.parameters(), cfg.optim.lr_d, self.device)
        self.sched_g = make_scheduler(cfg.optim, self.opt_g, cfg.steps)
        self.sched_d = make_scheduler(cfg.optim, self.opt_d, cfg.steps)
        self.ema = (
            AveragedModel(self.G, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema.decay), use_buffers=True)
            if cfg.ema.decay > 0
            else None
        )
        # one generator drives all training randomness (data, noise, interpolation weights); under
        # torchrun every rank draws the same global stream and uses its own rows of each batch
        self.rng = torch.Generator(self.device).manual_seed(cfg.seed)
        # a fixed noise batch, saved with the run, for sample grids comparable across steps
        self.fixed_noise = self.noise(FIXED_SAMPLES, torch.Generator(self.device).manual_seed(cfg.seed + 1))
        self.step = 0
        self.skipped = 0  # optimizer updates dropped under train.on_nan=skip
        self.watch = LossWatch(self.device) if _value(cfg.train.on_nan) == "stop" else None
        self.graph_off = self.why_no_graph()  # None: each generator step replays as one CUDA graph
        self.make_capturable()
        self.best_fid = float("inf")
        self.best: dict[str, float] = {}  # the lowest w1/exact and FID over the evaluations so far
        self.resumed_from = starting_checkpoint(cfg, self.run_dir)
        if self.resumed_from is not None:
            self.resume(self.resumed_from)
        self.fid = FidMonitor(cfg, self.data, self.device) if cfg.fid.every and self.shard.is_main else None
        self.run_updates = self.updates if self.graph_off else StepGraph(self.updates, [self.rng])

    def why_no_graph(self) -> str | None:
        """Why the generator steps run eagerly, or None when they replay as a CUDA graph."""
        if not self.cfg.train.cuda_graph:
            return "train.cuda_graph=false"
        if self.device.type != "cuda":
            return "not on CUDA"
        if self.shard.world > 1:
            return "data parallel over several processes"
        if self.watch is None:
            return "train.on_nan=skip decides on the host at every update"
        if not self.data.on_device:
            return "the data streams from the host"
        return None

    def make_capturable(self) -> None:
        """When graphed: optimizers whose learning rates and step counts live on the device."""
        if self.graph_off is None:
            for opt in (self.opt_g, self.opt_d):
                lr_on_device(opt)

    # -- sampling -------------------------------------------------------------------------
    @property
    def sampler(self) -> nn.Module:
        """The generator that samples and metrics use: the EMA copy once averaging has begun."""
        if self.ema is not None and self.step > self.cfg.ema.start:
            return self.ema.module
        return self.G

    def noise(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.randn(n, self.cfg.model.noise_dim, device=self.device, generator=generator)

    # -- one generator step -----------------------------------------------------------------
    def train_step(self) -> dict[str, Tensor]:
        """One generator step: the optimizer updates (a CUDA graph's replay where possible), then
        the NaN guard's bookkeeping, the EMA update and the schedulers, on the host's side."""
        stats, updates = self.run_updates()
        if self.watch is not None:
            for terms in updates:
                if self.watch.room() < len(terms):  # no log step for long: check now
                    self.check_finite()
                self.watch.add(self.step + 1, terms)
        if self.ema is not None and self.step >= self.cfg.ema.start:
            update_ema(self.ema, self.G, self.cfg.ema.decay)
        self.sched_g.step()
        self.sched_d.step()
        return stats

    def updates(self) -> tuple[dict[str, Tensor], list[dict[str, Tensor | None]]]:
        """``n_critic`` critic updates and one generator update; returns the logged stats and each
        update's loss terms. Touches nothing on the host, so it can be captured as a CUDA graph."""
        cfg, B, rows = self.cfg, self.cfg.batch_size, self.shard.rows
        updates: list[dict[str, Tensor | None]] = []
        z = self.noise(cfg.n_critic * B, self.rng).view(cfg.n_critic, B, -1)
        with torch.no_grad(), self.autocast():  # G is fixed during the critic steps: one forward for all,
            if self.g_batch_norm:  # unless BatchNorm would then normalize by n_critic batches at once
                fakes = [self.G(rows(zk)).float() for zk in z]
            else:
                fakes = self.G(torch.cat([rows(zk) for zk in z])).float().chunk(cfg.n_critic)
        for fake in fakes:
            real = self.data.batch_rows(B, self.rng, self.shard)
            b = real.shape[0]
            with self.autocast():
                f = self.D_train(torch.cat([real, fake])).float()  # critics have no batch statistics
            f_real, f_fake = f[:b], f[b:]
            loss_d = self.loss.critic(f_real, f_fake)
            penalty = self.strategy.penalty(self.D, real, fake, self.rng, self.shard)
            total_d = loss_d if penalty is None else loss_d + penalty
            updates.append({"loss/critic": loss_d, "loss/penalty": penalty})
            if self.finite(updates[-1]):
                self.opt_d.zero_grad(set_to_none=True)
                total_d.backward()
                self.opt_d.step()
                self.strategy.after_step(self.D)

        self.D.requires_grad_(False)
        with self.autocast():
            f_g = self.D(self.G_train(rows(self.noise(cfg.batch_size_g or B, self.rng)))).float()
        loss_g = self.loss.generator(f_g)
        updates.append({"loss/generator": loss_g})
        if self.finite(updates[-1]):
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        self.D.requires_grad_(True)

        stats = {"loss/critic": total_d.detach(), "loss/generator": loss_g.detach()}
        stats["w1/critic_batch"] = (f_real.mean() - f_fake.mean()).detach()
        if penalty is not None:
            stats["loss/penalty"] = penalty.detach()
        return stats, updates

    def autocast(self) -> torch.autocast:
        """``train.amp=bf16``: forward passes in bfloat16 (no loss scaling needed: bf16 has float32's
        range). The penalty computes its double backward in float32 regardless (critic/gp.py)."""
        # a CUDA graph cannot keep autocast's cache of cast weights across replays
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16,
                              cache_enabled=self.graph_off is not None)

    def finite(self, terms: dict[str, Tensor | None]) -> bool:
        """Under ``train.on_nan=skip``: True when every term is finite, else the update is skipped
        (one host synchronization per update). Under ``stop``: True; ``train_step`` hands the terms
        to the watch, checked later all at once by ``check_finite`` (no synchronization per update)."""
        if self.watch is not None:
            return True
        bad = {name: t for name, t in terms.items() if t is not None and not bool(torch.isfinite(t).all())}
        if not bad:
            return True
        self.skipped += 1
        log.warning("step %d: %s; update skipped (%d so far)", self.step + 1,
                    ", ".join(f"{name}={t.item()}" for name, t in bad.items()), self.skipped)
        return False

    def check_finite(self) -> None:
        """``train.on_nan=stop``: raise ``Diverged`` naming the first step with a NaN or Inf loss.
        Called before anything is logged or saved, so the last checkpoint predates the divergence."""
        found = self.watch.first_bad() if self.watch is not None else None
        if found is None:
            return
        step, terms = found
        self.step = step - 1  # the last good step: what the run's summary reports as trained
        values = ", ".join(f"{name}={value}" for name, value in terms.items())
        last = self.run_dir / "checkpoints" / "last.pt"
        kept = f"the last good checkpoint is kept: {last}" if last.is_file() else "no checkpoint was written yet"
        raise Diverged(f"step {step}: {values}; stopped (train.on_nan=stop; skip drops such updates); {kept}")

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(self, tracker: Tracker | None = None) -> dict[str, float]:
        """Held-out KR estimate, exact W1, noise floor and the critic's gradient norms.

        Uses its own random stream seeded by (seed, step), so evaluating never changes training.
        """
        n = self.cfg.eval.n
        g = torch.Generator(self.device).manual_seed(self.cfg.seed * 1_000_003 + self.step)
        G = self.sampler
        was_training = G.training, self.D.training
        G.eval()
        self.D.eval()
        try:
            with torch.no_grad():
                real, real2 = self.data.sample(n, g), self.data.sample(n, g)
                fake = G(self.noise(n, g))
                w1_critic = (self.D(real).mean() - self.D(fake).mean()).item()
            metrics = {
                "w1/critic": w1_critic,
                "w1/exact": exact_w1(real, fake),
                "w1/noise_floor": exact_w1(real, real2),
                "w1/sliced": sliced_w1(real, fake, self.cfg.eval.projections, seed=self.step),
            }
            metrics.update(self.lipschitz(real, fake, interpolate(real, fake, g)))
            if self.critic_is_w1:  # under hinge / NS losses (or a divergence penalty) the gap is no W1 estimate
                metrics["w1/gap"] = metrics["w1/exact"] - w1_critic
                if metrics["lipschitz/empirical"] > 0:
                    metrics["w1/critic_scaled"] = w1_critic / metrics["lipschitz/empirical"]
            if tracker is not None:
                tracker.scalars(metrics, self.step)
                for name, param in self.D.named_parameters():
                    tracker.histogram(f"critic_weights/{name}", param, self.step)
                if self.data.shape == (2,):
                    title = f"step {self.step}: W1 exact {metrics['w1/exact']:.3f}, critic {w1_critic:.3f}"
                    tracker.figure("critic/field", critic_field(self.D, real, fake, title), self.step)
                elif len(self.data.shape) == 3:
                    with torch.no_grad():
                        grid = sample_grid(G(self.fixed_noise))
                    tracker.image("samples/fixed", grid, self.step)
        finally:
            G.train(was_training[0])
            self.D.train(was_training[1])
        return metrics

    def lipschitz(self, real: Tensor, fake: Tensor, interp: Tensor) -> dict[str, float]:
        """Gradient norms at real, fake and interpolated points; the empirical constant over pairs
        of up to 512 real and fake points; the layers' operator-norm product (feed-forward critics)."""
        metrics: dict[str, float] = {}
        for name, x in {"real": real, "fake": fake, "interp": interp}.items():
            metrics.update(gradient_norm_stats(self.D, x, name))
        points = torch.cat([real[:256], fake[:256]])
        metrics["lipschitz/empirical"] = empirical_lipschitz(self.D, points, points)
        bound = spectral_bound(self.D, real)
        if bound is not None:
            metrics["lipschitz/spectral_bound"] = bound
        return metrics

    # -- checkpoint -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "generator": self.G.state_dict(),
            "critic": self.D.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "opt_g": portable(self.opt_g.state_dict()),
            "opt_d": portable(self.opt_d.state_dict()),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "rng": self.rng.get_state(),
            "fixed_noise": self.fixed_noise,
            "best_fid": self.best_fid,
            "best": self.best,
            "skipped": self.skipped,
            "rng_global": rng_state(),
            "hydra_record": self.hydra_record,
            "data_shape": list(self.data.shape),
            "config": OmegaConf.to_container(self.cfg, resolve=True, enum_to_str=True),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` saved (the config is the caller's to compare)."""
        self.step = state["step"]
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["critic"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        for name in ("opt_g", "opt_d", "sched_g", "sched_d"):
            getattr(self, name).load_state_dict(state[name])
        self.make_capturable()  # loaded optimizers come as saved: float learning rates, not capturable
        self.restore_rng(state["rng"])
        self.fixed_noise = state["fixed_noise"].to(self.device)
        self.best_fid = state.get("best_fid", float("inf"))
        self.skipped = state.get("skipped", 0)
        self.best = dict(state.get("best", {}))
        if "rng_global" in state:
            set_rng_state(state["rng_global"])

    def restore_rng(self, saved: Tensor) -> None:
        """The training generator's saved state. A CPU generator (Mersenne Twister, 5056 bytes) and a
        CUDA one (Philox seed and offset, 16 bytes) cannot take each other's state: across that device
        change the stream is reseeded from a hash of the saved state, the same seed on every resume."""
        if saved.numel() == self.rng.get_state().numel():
            self.rng.set_state(saved)
            return
        seed = int.from_bytes(hashlib.sha256(saved.cpu().numpy().tobytes()).digest()[:8], "little") >> 1
        self.rng.manual_seed(seed)
        log.info("the checkpoint's random stream was drawn on another device type; reseeded for %s, so the "
                 "run from here differs from one that stayed there", self.device.type)

    def resume(self, path: Path) -> None:
        """Continue from ``path``; a config that changes shapes is an error naming the keys, and
        the run dir's ``.hydra`` record (just rewritten by Hydra) is put back as it was."""
        state = load_checkpoint(path)  # on the CPU: RNG states stay there, load_state_dict moves the rest
        try:
            check_compatible(state, self.cfg, self.data.shape)
            try:
                self.load_state_dict(state)
            except (RuntimeError, KeyError, ValueError) as ex:
                diffs = "; ".join(config_diffs(state, self.cfg, self.data.shape, every_key=True))
                raise ConfigError(f"resume: {path} does not fit this config ({diffs or 'no key differs'})") from ex
        except UserError:
            if path == self.run_dir / "checkpoints" / "last.pt":
                restore_hydra_record(self.run_dir, state.get("hydra_record"))
            raise
        log.info("resumed from %s at step %d", path, self.step)

    def save_checkpoint(self) -> None:
        last = self.run_dir / "checkpoints" / "last.pt"
        save_atomic(self.state_dict(), last)
        keep_last(last, self.step, self.cfg.checkpoint.keep)

    # -- the loop ---------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        cfg = self.cfg
        log.info(
            "training %s on %s with critic=%s, %d steps, n_critic=%d, device %s; run dir %s",
            cfg.model.name, cfg.data.name, cfg.critic.name, cfg.steps, cfg.n_critic, self.device, self.run_dir,
        )
        if self.shard.world > 1:
            log.info("data parallel over %d processes (DistributedDataParallel); rank 0 writes the run dir",
                     self.shard.world)
        if self.device.type == "cuda":
            log.info("CUDA graph: %s", "on (each generator step replays as one graph after %d eager steps)"
                     % WARMUP if self.graph_off is None else f"off: {self.graph_off}")
        if self.step >= cfg.steps:
            log.info("the run is complete (step %d of %d); nothing to train", self.step, cfg.steps)
            return self.evaluate()
        gap_label = "W1~" if self.critic_is_w1 else "gap"
        start = time.perf_counter()
        metrics: dict[str, float] = {}
        tracker = None
        if self.shard.is_main:  # under torchrun rank 0 alone logs, evaluates and checkpoints
            tracker = Tracker(self.run_dir, cfg.steps, self.step, critic_is_w1=self.critic_is_w1)
            if self.fid is not None:
                tracker.text("fid/protocol", self.fid.protocol, self.step)
            tracker.hparams(cfg, list(METRICS) + ([self.fid.tag] if self.fid is not None else []))
        try:
            with StopRequests() as stop:
                metrics = self._loop(tracker, stop, gap_label)
        finally:
            if tracker is not None:
                tracker.close()
        elapsed = time.perf_counter() - start
        barrier(self.shard)  # every rank leaves together, after rank 0's last evaluation and checkpoint
        if not self.shard.is_main:
            return {"time/seconds": elapsed}
        log.info(
            "done: %d steps in %.1f s; w1/exact %.4f (noise floor %.4f), w1/critic %.4f",
            self.step, elapsed, metrics["w1/exact"], metrics["w1/noise_floor"], metrics["w1/critic"],
        )
        return {**metrics, "time/seconds": elapsed}

    def _loop(self, tracker: Tracker | None, stop: StopRequests, gap_label: str) -> dict[str, float]:
        cfg = self.cfg
        metrics: dict[str, float] = {}
        while self.step < cfg.steps:
            stats = self.train_step()
            self.step += 1
            stopping = any_rank(stop.signum is not None, self.shard, self.device)  # every rank stops at one step
            last = self.step == cfg.steps
            log_now = self.step % cfg.log_every == 0 or last
            eval_now = bool(cfg.eval.every and self.step % cfg.eval.every == 0) or last
            fid_now = self.fid is not None and (self.step % cfg.fid.every == 0 or last)
            save_now = last or stopping or bool(cfg.checkpoint.every and self.step % cfg.checkpoint.every == 0)
            if log_now or eval_now or fid_now or save_now:  # the host looks: losses must be finite so far
                self.check_finite()
            if log_now:
                stats = mean_over_ranks(stats, self.shard)  # the global batch's losses
            if not self.shard.is_main:
                if stopping and self.step < cfg.steps:
                    barrier(self.shard)  # rank 0 saves last.pt first
                    raise Interrupted(f"stopped at step {self.step} with rank 0", stop.signum or signal.SIGTERM)
                continue
            if log_now:
                values = {k: v.item() for k, v in stats.items()}
                tracker.scalars({k: v for k, v in values.items() if k.startswith("loss/")}, self.step)
                if self.skipped:
                    tracker.scalars({"train/skipped_updates": self.skipped}, self.step)
                tracker.progress.update(self.step, {gap_label: values["w1/critic_batch"]})
            if eval_now:
                metrics = self.evaluate(tracker)
                self.best["w1/exact"] = min(metrics["w1/exact"], self.best.get("w1/exact", float("inf")))
            if fid_now:
                fid_rng = self.fid.rng(self.step)  # its own stream: FID never changes training
                scores = self.fid.evaluate(self.sampler, lambda n: self.noise(n, fid_rng))
                tracker.scalars(scores, self.step)
                metrics.update(scores)
                if scores[self.fid.tag] < self.best_fid:
                    self.best_fid = self.best[self.fid.tag] = scores[self.fid.tag]
                    save_atomic(self.state_dict(), self.run_dir / "checkpoints" / "best.pt")
            if save_now:
                self.save_checkpoint()
            if stopping and not last:
                barrier(self.shard)
                stop.hand_over_to_requeue()  # under submitit: requeue and exit; resumes from last.pt
                signum = stop.signum or signal.SIGTERM  # another rank's signal
                raise Interrupted(
                    f"{signal.Signals(signum).name} at step {self.step}: saved "
                    f"{self.run_dir / 'checkpoints' / 'last.pt'}; run the same command again to resume", signum,
                )
        return metrics
