"""The evaluation: the critic's held-out Kantorovich-Rubinstein estimate against the exact W1.

    w1/critic      = E_real f - E_fake f on eval.n fresh samples per side, no penalty term
                     (critic=sinkhorn, no critic network: S_eps(real, fake) on those samples)
    w1/critic_ratio = w1/critic / w1/exact, while w1/exact >= RATIO_FLOOR x w1/noise_floor
    w1/exact       = W1 between the same samples (POT's network simplex, Euclidean cost)
    w1/noise_floor = W1 between two independent real draws: what a perfect generator gets; the mean
                     over 8 pairs, once per run (w1/noise_floor_sd: one pair's standard deviation)
    w1/sliced      = sliced W1 over eval.projections random directions (a lower bound)
    prdc/precision, prdc/recall, prdc/density, prdc/coverage = fidelity and diversity apart, on the
                     same points (vector data; metrics/prdc.py, k = 3 and 5)
    toy/modes, toy/high_quality = modes captured and the share of samples within 3 standard
                     deviations of their nearest mode (the gaussian mixtures; metrics/modes.py)

with the critic's gradient norms and empirical Lipschitz constant; and the pictures (the critic's
field on 2-D data, a grid from the fixed noise on images). Its own random stream, seeded by
(seed, step): evaluating never changes training.
"""

from __future__ import annotations

import statistics
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, NamedTuple

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from wgan_cli.gradients import interpolate
from wgan_cli.metrics.lipschitz import empirical_lipschitz, gradient_norm_stats, spectral_bound
from wgan_cli.metrics.prdc import K_DC, prdc
from wgan_cli.metrics.w1 import exact_w1, sliced_w1
from wgan_cli.plots import critic_field, sample_grid

RATIO_FLOOR = 3.0  # below 3x the noise floor, exact W1 is mostly sampling bias: no ratio is logged

if TYPE_CHECKING:
    from wgan_cli.critic.base import LipschitzStrategy
    from wgan_cli.tracking import Tracker

Noise = Callable[[int, torch.Generator], Tensor]  # (n, generator) -> n latent codes


# the critic's held-out gap: a W1 estimate (w1/critic) or, under a loss or strategy that makes it
# none, the critic's mean gap (gap/critic), kept apart so that each dashboard chart holds what it says
CRITIC_TAG = {True: "w1/critic", False: "gap/critic"}


@contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """The modules in eval mode (BatchNorm on its running statistics), their modes restored after."""
    was_training = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(modules, was_training):
            m.train(mode)


FLOOR_DRAWS = 8  # pairs of independent real draws the noise floor averages
FLOOR_STREAM = 7_919  # the floor's random stream: (seed, this), apart from training's and the evaluations'


class Evaluated(NamedTuple):
    """An evaluation's metrics and the samples they were measured on (for its pictures)."""

    metrics: dict[str, float]
    real: Tensor
    fake: Tensor


class Evaluator:
    """The evaluation of one run: the data, the strategy and ``eval.*`` are fixed; what it measures
    (the sampling generator, the critic, the step) is passed to ``evaluate``."""

    def __init__(self, cfg: DictConfig, data: Any, strategy: LipschitzStrategy, critic_is_w1: bool,
                 device: torch.device) -> None:
        self.cfg, self.data, self.strategy, self.critic_is_w1, self.device = cfg, data, strategy, critic_is_w1, device
        self.critic_tag = CRITIC_TAG[critic_is_w1]
        self.floor: tuple[float, float] | None = None  # the noise floor at eval.n: mean and sd, computed once

    def noise_floor(self) -> tuple[float, float]:
        """E W1(P_n, P'_n) between two independent real draws of n = ``eval.n`` points: the exact W1
        a perfect generator gets, all of it sampling bias. A property of the data and n alone, so it
        is computed once per run, as the mean over ``FLOOR_DRAWS`` pairs (one pair swings by 2x from
        one evaluation to the next on the toys), with the standard deviation of one pair."""
        if self.floor is None:
            n = self.cfg.eval.n
            g = torch.Generator(self.device).manual_seed(self.cfg.seed * 1_000_003 + FLOOR_STREAM)
            with torch.no_grad():
                draws = [exact_w1(self.data.sample(n, g), self.data.sample(n, g)) for _ in range(FLOOR_DRAWS)]
            self.floor = (statistics.fmean(draws), statistics.stdev(draws))
        return self.floor

    def evaluate(self, step: int, G: nn.Module, D: nn.Module, noise: Noise) -> Evaluated:
        """The metrics above of the sampling generator ``G`` and the critic ``D`` at ``step``."""
        n, strategy = self.cfg.eval.n, self.strategy
        g = torch.Generator(self.device).manual_seed(self.cfg.seed * 1_000_003 + step)
        with eval_mode(G, D):
            with torch.no_grad():
                real = self.data.sample(n, g)
                fake = G(noise(n, g))
                if strategy.has_network:
                    w1_critic = (D(real).mean() - D(fake).mean()).item()
                else:
                    w1_critic = strategy.generator_loss(real, fake).item()
            finite = bool(torch.isfinite(fake).all())  # a generator gone to inf is infinitely far from the data
            floor, floor_sd = self.noise_floor()
            metrics = {
                self.critic_tag: w1_critic,
                "w1/exact": exact_w1(real, fake) if finite else float("inf"),
                "w1/noise_floor": floor,
                "w1/noise_floor_sd": floor_sd,
                "w1/sliced": sliced_w1(real, fake, self.cfg.eval.projections, seed=step % 2**32) if finite else float("inf"),
            }
            if len(self.data.shape) == 1 and finite and n > K_DC:  # points: fidelity and diversity apart, no network
                metrics.update(prdc(real, fake).as_dict("prdc/"))
            if hasattr(self.data, "mode_coverage") and finite:  # a mixture of gaussians: modes captured
                metrics.update(self.data.mode_coverage(fake))
            if strategy.has_network:
                metrics.update(lipschitz(D, real, fake, interpolate(real, fake, g)))
            if self.critic_is_w1:  # under hinge / NS losses (or a divergence penalty) the gap is no W1 estimate
                metrics["w1/gap"] = metrics["w1/exact"] - w1_critic
                if metrics["w1/exact"] >= RATIO_FLOOR * metrics["w1/noise_floor"]:
                    metrics["w1/critic_ratio"] = w1_critic / metrics["w1/exact"]
                if metrics.get("lipschitz/empirical", 0) > 0:
                    metrics["w1/critic_scaled"] = w1_critic / metrics["lipschitz/empirical"]
        return Evaluated(metrics, real, fake)

    def log(self, tracker: Tracker, step: int, done: Evaluated, G: nn.Module, D: nn.Module, fixed_noise: Tensor) -> None:
        """The scalars, the critic's weight histograms, and the critic's field or the sample grid
        (``G`` on ``fixed_noise``), with the networks in eval mode as they were measured."""
        metrics = done.metrics
        tracker.scalars(metrics, step)
        if not self.strategy.has_network:
            return
        with eval_mode(G, D):  # in training mode, reading a spectrally normalized weight moves its power iteration
            for name, weights in effective_weights(D):
                tracker.histogram(f"weights/critic/{name}", weights, step)
            if self.data.shape == (2,):
                title = f"step {step}: W1 exact {metrics['w1/exact']:.3f}, critic {metrics[self.critic_tag]:.3f}"
                tracker.figure("w1/critic_field", critic_field(D, done.real, done.fake, title), step)
            elif len(self.data.shape) == 3:
                with torch.no_grad():
                    grid = sample_grid(G(fixed_noise))
                tracker.image("samples/fixed", grid, step)


def effective_weights(D: nn.Module) -> list[tuple[str, Tensor]]:
    """(layer.weight, tensor) for every layer's weights as the critic uses them: under spectral
    normalization or Björck orthonormalization W / sigma(W) (the parametrized ``weight``), not the
    raw parameter the optimizer updates; biases as they are."""
    found = []
    for name, module in D.named_modules():
        if list(module.children()) and not hasattr(module, "parametrizations"):
            continue
        for kind in ("weight", "bias"):
            value = getattr(module, kind, None)
            if isinstance(value, Tensor):
                found.append((f"{name}.{kind}" if name else kind, value.detach()))
    return found


def lipschitz(D: nn.Module, real: Tensor, fake: Tensor, interp: Tensor) -> dict[str, float]:
    """Gradient norms at real, fake and interpolated points; the empirical constant over pairs of
    up to 512 real and fake points; the layers' operator-norm product (feed-forward critics)."""
    metrics: dict[str, float] = {}
    for name, x in {"real": real, "fake": fake, "interp": interp}.items():
        metrics.update(gradient_norm_stats(D, x, name))
    points = torch.cat([real[:256], fake[:256]])
    metrics["lipschitz/empirical"] = empirical_lipschitz(D, points, points)
    bound = spectral_bound(D, real)
    if bound is not None:
        metrics["lipschitz/spectral_bound"] = bound
    return metrics
