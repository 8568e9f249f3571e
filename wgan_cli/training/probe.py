"""The probe: a second critic that only measures, ``w1/probe``.

An orthonormal network (deel-torchlip's Björck layers and GroupSort2, as ``critic=orthonormal``):
an MLP on vectors, a feed-forward convolutional net on images (``probe_network``), so Lip(f) <= 1
by construction. It is fitted at each of its evaluations for ``probe.updates`` Adam steps, each on
a fresh draw of real and generated samples, warm-started from its previous fit; then read on a
held-out draw of ``probe.n`` per side. The generator and the toys are unlimited, so it cannot
memorize them; a finite data set (images) is split once, by the probe's seed, into min(n, N / 4)
held-out samples, which the fit never sees, and the rest, which the fit draws from
(``RealDraws``). The reading:

    w1/probe    = mean f(x_i) - mean f(G(z_j))        <= W1(P, Q) for every 1-Lipschitz f
    w1/probe_se = sqrt(var f(x) / n + var f(G(z)) / n) its standard error over the held-out draw

an unbiased estimate of a lower bound on the population W1, comparable across critics, losses and
datasets, and tight where the fit has converged (Gulrajani, Raffel and Metz 2019). It draws from
its own random streams and never touches the training networks or streams, so a run is bitwise the
same with the probe on or off; its network, optimizer and streams are saved in the checkpoint.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from wgan_cli.config import ProbeConfig
from wgan_cli.critic.orthonormal import swap
from wgan_cli.metrics.lipschitz import empirical_lipschitz
from wgan_cli.model.mlp import mlp
from wgan_cli.progress import Progress
from wgan_cli.schema.critic import OrthonormalConfig
from wgan_cli.training.evaluation import eval_mode

SEED_OFFSET = 104_729  # the probe's streams: (seed + offset), apart from training's and the evaluation's


def probe_network(shape: tuple[int, ...], width: int, depth: int) -> nn.Sequential:
    """Vectors: an MLP of ``depth`` hidden layers of ``width``. Images [C, H, W]: ``depth``
    convolutions of ``width`` channels, 4x4 with stride 2 while the side is at least 2 (halving
    it), then 3x3; then a dense layer to one value. Plain layers, orthonormalized by ``Probe``."""
    if len(shape) == 1:
        return mlp(shape[0], width, depth, 1)
    layers: list[nn.Module] = []
    channels, height, width_px = shape
    for _ in range(depth):
        if min(height, width_px) >= 2:
            layers += [nn.Conv2d(channels, width, 4, 2, 1), nn.ReLU()]
            height, width_px = height // 2, width_px // 2
        else:
            layers += [nn.Conv2d(channels, width, 3, 1, 1), nn.ReLU()]
        channels = width
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * height * width_px, 1))


class RealDraws:
    """The probe's real samples. An unlimited source (``data.count() == 0``, the toys): fresh draws
    on each stream. A finite one: its samples split once by a permutation of the probe's seed into
    min(n, N / 4) held out, read whole at each reading, and the rest, which the fit draws from."""

    def __init__(self, data: Any, n: int, seed: int) -> None:
        self.data, count = data, data.count()
        self.fit_idx = self.held_idx = None
        if count:
            order = torch.randperm(count, generator=torch.Generator().manual_seed(seed + SEED_OFFSET))
            held = min(n, count // 4)
            self.held_idx, self.fit_idx = order[:held], order[held:]

    def fit(self, n: int, generator: torch.Generator) -> Tensor:
        if self.fit_idx is None:
            return self.data.sample(n, generator)
        pick = torch.randint(len(self.fit_idx), (n,), device=generator.device, generator=generator).cpu()
        return self.data.take(self.fit_idx[pick])

    def held_out(self, n: int, generator: torch.Generator) -> Tensor:
        return self.data.sample(n, generator) if self.held_idx is None else self.data.take(self.held_idx)


class Probe:
    def __init__(self, cfg: Any, shape: tuple[int, ...], device: torch.device, seed: int) -> None:
        self.cfg, self.seed = cfg, seed
        with torch.random.fork_rng(devices=[]):  # its own initialization: the global stream is left as it was
            torch.manual_seed(seed + SEED_OFFSET)
            net = probe_network(tuple(shape), cfg.width, cfg.depth)
            swap(net, OrthonormalConfig())
        self.net = net.to(device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=(0.0, 0.9))
        self.fit_rng = torch.Generator(device).manual_seed(seed + SEED_OFFSET)
        self.held_out_rng = torch.Generator(device).manual_seed(seed + SEED_OFFSET + 1)
        self.flat = len(shape) == 1
        self.draws: RealDraws | None = None  # the real side's split, made at the first reading

    def f(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1) if self.flat else x).squeeze(1)

    def measure(self, data: Any, sampler: nn.Module, noise: Callable[[int, torch.Generator], Tensor]) -> dict[str, float]:
        """Fit on fresh draws, then read on a held-out one (as many generated samples as real)."""
        cfg = self.cfg
        draws = self.draws = self.draws or RealDraws(data, cfg.n, self.seed)
        self.net.train()
        progress = Progress("probe fit", cfg.updates, bar=False, unit="update")  # the run's bar says "probe"
        with eval_mode(sampler):
            for _ in range(cfg.updates):
                with torch.no_grad():
                    real, fake = draws.fit(cfg.batch, self.fit_rng), sampler(noise(cfg.batch, self.fit_rng))
                self.update(real, fake)
                progress.advance()
            progress.close()
            with torch.no_grad():
                real = draws.held_out(cfg.n, self.held_out_rng)
                fake = sampler(noise(len(real), self.held_out_rng))
                return self.read(real, fake)

    def update(self, real: Tensor, fake: Tensor) -> None:
        """One Adam step ascending E_P f - E_Q f on a draw."""
        self.net.train()
        loss = self.f(fake).mean() - self.f(real).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    @torch.no_grad()
    def gap(self, real: Tensor, fake: Tensor) -> float:
        """mean f(real) - mean f(fake), in eval mode."""
        self.net.eval()
        return (self.f(real).double().mean() - self.f(fake).double().mean()).item()

    @torch.no_grad()
    def read(self, real: Tensor, fake: Tensor) -> dict[str, float]:
        """The reading on held-out points: the mean gap, its standard error, the empirical constant."""
        self.net.eval()
        fr, ff = self.f(real).double(), self.f(fake).double()
        points = torch.cat([real[:256], fake[:256]])
        return {"w1/probe": (fr.mean() - ff.mean()).item(),
                "w1/probe_se": math.sqrt(fr.var().item() / len(fr) + ff.var().item() / len(ff)),
                "lipschitz/probe": empirical_lipschitz(self.f, points, points)}

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict(),
                "fit_rng": self.fit_rng.get_state(), "held_out_rng": self.held_out_rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.fit_rng.set_state(state["fit_rng"])
        self.held_out_rng.set_state(state["held_out_rng"])


CHECK_EVERY = 25  # updates between validation readings of ``held_out_w1``
PATIENCE = 8  # validation readings without a new best before it stops


def held_out_w1(x: np.ndarray, y: np.ndarray, updates: int = 1000, seed: int = 0) -> dict[str, float]:
    """W1 between two finite samples, the probe's way (``wgan-cli w1 --method probe``): each sample
    split at random in halves, a fifth of each first half kept for validation; the probe fitted on
    the rest (at most ``updates`` Adam steps on minibatches), stopped early where its validation
    gap has not risen for ``PATIENCE`` readings and put back to its best one, since a fixed sample
    is memorized; then read on the second halves, which it never saw:

        value = mean f(x_read) - mean f(y_read),  an unbiased estimate of E_P f - E_Q f <= W1(P, Q)

    with its standard error. Unlike the exact W1 between the samples it is not biased up by
    sampling (3x the true W1 in 10 dimensions at 2000 points), and unlike a critic read on its own
    training points it cannot memorize them. The points are divided by their joint standard
    deviation s for the fit and the value multiplied back by s."""
    if min(len(x), len(y)) < 4:
        raise ValueError("the probe needs at least 4 points per side (half to fit, half to read)")
    start = time.perf_counter()
    scale = float(np.concatenate([x, y]).std()) or 1.0
    g = torch.Generator().manual_seed(seed)
    parts = []
    for v in (x, y):
        t = torch.tensor(v / scale, dtype=torch.float32)
        t = t[torch.randperm(len(t), generator=g)]
        half, check = len(t) // 2, max(1, len(t) // 10)
        parts.append((t[check:half], t[:check], t[half:]))  # fit, validation, read
    (fit_x, check_x, read_x), (fit_y, check_y, read_y) = parts
    probe = Probe(ProbeConfig(updates=updates), (x.shape[1],), torch.device("cpu"), seed)
    batch = min(probe.cfg.batch, len(fit_x), len(fit_y))
    best, best_state, best_at, since, done = -math.inf, None, 0, 0, 0
    progress = Progress("probe fit (at most)", updates, unit="update")
    while done < updates and since < PATIENCE:
        probe.update(fit_x[torch.randint(len(fit_x), (batch,), generator=g)],
                     fit_y[torch.randint(len(fit_y), (batch,), generator=g)])
        done += 1
        progress.advance()
        if done % CHECK_EVERY == 0 or done == updates:
            gap = probe.gap(check_x, check_y)
            if gap > best:
                best, best_state, best_at, since = gap, copy.deepcopy(probe.net.state_dict()), done, 0
            else:
                since += 1
    progress.close()
    probe.net.load_state_dict(best_state)
    reading = probe.read(read_x, read_y)
    return {"value": reading["w1/probe"] * scale, "se": reading["w1/probe_se"] * scale,
            "lipschitz": reading["lipschitz/probe"], "fit_points": (len(fit_x), len(fit_y)),
            "updates": best_at, "ran": done, "seconds": time.perf_counter() - start}
