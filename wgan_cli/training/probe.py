"""The probe: a second critic that only measures, ``w1/probe``.

An orthonormal network (deel-torchlip's Björck layers and GroupSort2, as ``critic=orthonormal``):
an MLP on vectors, a feed-forward convolutional net on images (``probe_network``), so Lip(f) <= 1
by construction. It is fitted at each of its evaluations for ``probe.updates`` Adam steps, each on
a fresh draw of real and generated samples, warm-started from its previous fit; then read on a
held-out draw of ``probe.n`` per side. The generator and the toys are unlimited, so it cannot
memorize them; a finite data set (images) is split once, by the probe's seed, into min(n, N / 4)
held-out samples, which the fit never sees, and the rest, which the fit draws from
(``RealDraws``). After the fit it keeps one of three 1-Lipschitz functions, whichever reads most on
a fresh validation draw: the network, the best linear witness of the same draws (the unit vector
along the difference of their means) or their spread witness (+-the distance to their mean). In
high dimensions, where a network needs far more draws than a reading has to find a shift or a
change of spread, the simple witnesses find them; where the data call for a curved witness the
network wins. The reading, of the function kept:

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


def linear_witness_of_means(mean_x: Tensor, mean_y: Tensor) -> Tensor:
    """f(v) = <w, v>, w = (mean x - mean y) / ||mean x - mean y||: of all linear functions with
    ||w|| <= 1 (1-Lipschitz), the one with the largest mean f(x) - mean f(y) (w = 0 if the means agree)."""
    w = (mean_x - mean_y).double()
    norm = w.norm()
    return (w / norm if norm > 0 else w).float()


def spread_witness(x: Tensor, y: Tensor, center: Tensor | None = None) -> Callable[[Tensor], Tensor]:
    """f(v) = s ||v - c||, c the pooled mean of the two samples (unless given), s = +-1 the sign that
    makes mean f(x) - mean f(y) >= 0 on them: 1-Lipschitz, and the witness of a difference in spread
    (a generator that covers less, or more, of the data), where the means agree and no linear one reads."""
    c = torch.cat([x.flatten(1), y.flatten(1)]).double().mean(0) if center is None else center.double()
    norm = lambda v: (v.flatten(1).double() - c).norm(dim=1)  # noqa: E731
    sign = 1.0 if norm(x).mean() >= norm(y).mean() else -1.0
    return lambda v: sign * norm(v)


def gap(f: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> float:
    """mean f(real) - mean f(fake), in double precision."""
    return (f(real).double().mean() - f(fake).double().mean()).item()


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
        """Fit on fresh draws; keep the network, the best linear witness of the same draws or their
        spread witness, whichever reads most on a fresh validation draw; read it on a held-out one
        (as many generated as real)."""
        cfg = self.cfg
        draws = self.draws = self.draws or RealDraws(data, cfg.n, self.seed)
        self.net.train()
        progress = Progress("probe fit", cfg.updates, bar=False, unit="update")  # the run's bar says "probe"
        real_sum = fake_sum = 0.0
        with eval_mode(sampler):
            for _ in range(cfg.updates):
                with torch.no_grad():
                    real, fake = draws.fit(cfg.batch, self.fit_rng), sampler(noise(cfg.batch, self.fit_rng))
                    real_sum, fake_sum = real_sum + real.flatten(1).sum(0), fake_sum + fake.flatten(1).sum(0)
                self.update(real, fake)
                progress.advance()
            progress.close()
            with torch.no_grad():
                drawn = cfg.updates * cfg.batch
                w = linear_witness_of_means(real_sum / drawn, fake_sum / drawn)
                real, fake = draws.fit(cfg.n, self.fit_rng), sampler(noise(cfg.n, self.fit_rng))
                self.net.eval()
                candidates = [self.f, lambda x: x.flatten(1) @ w,
                              spread_witness(real, fake, (real_sum + fake_sum) / (2 * drawn))]
                f = max(candidates, key=lambda f: gap(f, real, fake))  # the first of equals: the network
                real = draws.held_out(cfg.n, self.held_out_rng)
                fake = sampler(noise(len(real), self.held_out_rng))
                return self.read(real, fake, f)

    def update(self, real: Tensor, fake: Tensor) -> None:
        """One Adam step ascending E_P f - E_Q f on a draw."""
        self.net.train()
        loss = self.f(fake).mean() - self.f(real).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    @torch.no_grad()
    def gap(self, real: Tensor, fake: Tensor) -> float:
        """mean f(real) - mean f(fake) of the network, in eval mode."""
        self.net.eval()
        return gap(self.f, real, fake)

    @torch.no_grad()
    def read(self, real: Tensor, fake: Tensor, f: Callable[[Tensor], Tensor] | None = None) -> dict[str, float]:
        """The reading of f (the network unless given) on held-out points: the mean gap, its standard
        error, the empirical constant."""
        self.net.eval()
        f = f or self.f
        fr, ff = f(real).double(), f(fake).double()
        points = torch.cat([real[:256], fake[:256]])
        return {"w1/probe": (fr.mean() - ff.mean()).item(),
                "w1/probe_se": math.sqrt(fr.var().item() / len(fr) + ff.var().item() / len(ff)),
                "lipschitz/probe": empirical_lipschitz(f, points, points)}

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict(),
                "fit_rng": self.fit_rng.get_state(), "held_out_rng": self.held_out_rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.fit_rng.set_state(state["fit_rng"])
        self.held_out_rng.set_state(state["held_out_rng"])


CHECK_EVERY = 25  # updates between validation readings of a fold's network fit
PATIENCE = 8  # validation readings without a new best before it stops
FOLDS = 5  # cross-fitting: each point is read once, by a witness fitted on the other folds


def linear_witness(x: Tensor, y: Tensor) -> Tensor:
    """The best linear 1-Lipschitz witness on two samples (``linear_witness_of_means``)."""
    return linear_witness_of_means(x.double().mean(0), y.double().mean(0))


def fit_network(fit_x: Tensor, fit_y: Tensor, check_x: Tensor, check_y: Tensor, updates: int, seed: int,
                g: torch.Generator, progress: Progress) -> tuple[Probe, float, int, int]:
    """The probe's network fitted on minibatches of (fit_x, fit_y) for at most ``updates`` Adam steps,
    stopped where its gap on (check_x, check_y) has not risen for ``PATIENCE`` readings and put back to
    its best one (a fixed sample is memorized). Returns it, its best gap, the updates kept and run."""
    probe = Probe(ProbeConfig(updates=updates), (fit_x.shape[1],), torch.device("cpu"), seed)
    batch = min(probe.cfg.batch, len(fit_x), len(fit_y))
    best, best_state, best_at, since, done = -math.inf, None, 0, 0, 0
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
    progress.advance(updates - done)  # the bar counts each fold's budget, stopped early or not
    probe.net.load_state_dict(best_state)
    return probe, best, best_at, done


def held_out_w1(x: np.ndarray, y: np.ndarray, updates: int = 1000, seed: int = 0,
                folds: int = FOLDS) -> dict[str, Any]:
    """W1 between two finite samples, the probe's way (``wgan-cli w1 --method probe``), cross-fitted:
    each sample is split at random into K folds; for each fold k a witness f_k is chosen on the other
    folds, a fifth of them held back to choose, and read on fold k alone, which it never saw. The
    candidates: the best linear witness of the rest (``linear_witness``), their spread witness
    (``spread_witness``) and the probe's 1-Lipschitz network fitted on the rest (``fit_network``,
    early-stopped on the fifth); the one with the largest gap on the held-back fifth is kept. A
    linear fold is refitted without the point it reads: on all the other points where the samples
    pair up (n = m, the fold's i-th x and i-th y read by the witness of every other pair, its fit as
    large as it can be), else on the other folds. Every point is read once, by a function fitted without it (a pair, by one function):

        value = mean_i f_k(i)(x_i) - mean_j f_k(j)(y_j),  an unbiased estimate of the folds' mean
                E_P f_k - E_Q f_k <= W1(P, Q),  se = sqrt(var f(x) / n + var f(y) / m)

    Unlike the exact W1 between the samples it is not biased up by sampling (3x the true W1 in 10
    dimensions at 2000 points), unlike a critic read on its own training points it cannot memorize
    them, and in high dimensions, where a network fitted on a few thousand points stops early far
    below W1, the simple witnesses keep it close to W1 where the difference is one of means or of
    spread. The points are divided by their joint standard deviation s for the fit and the value
    multiplied back by s."""
    if min(len(x), len(y)) < 4:
        raise ValueError("the probe needs at least 4 points per side (two folds of two: one to fit, one to read)")
    start = time.perf_counter()
    folds = max(2, min(folds, min(len(x), len(y)) // 2))
    scale = float(np.concatenate([x, y]).std()) or 1.0
    g = torch.Generator().manual_seed(seed)
    xs, ys = (torch.tensor(v / scale, dtype=torch.float32) for v in (x, y))
    x_folds = torch.randperm(len(xs), generator=g) % folds  # fold of each point: sizes differ by at most one
    y_folds = torch.randperm(len(ys), generator=g) % folds
    fx, fy = torch.empty(len(xs), dtype=torch.float64), torch.empty(len(ys), dtype=torch.float64)
    chosen, kept, ran, lipschitz = [], [], [], 0.0
    sums = xs.double().sum(0) - ys.double().sum(0) if len(xs) == len(ys) else None  # for the pairs' linear witnesses
    progress = Progress(f"probe fit ({folds} folds, at most)", folds * updates, unit="update")
    for k in range(folds):
        rest_x, rest_y = xs[x_folds != k], ys[y_folds != k]
        check_x, check_y = rest_x[: max(1, len(rest_x) // 5)], rest_y[: max(1, len(rest_y) // 5)]
        fit_x, fit_y = rest_x[len(check_x):], rest_y[len(check_y):]
        w = linear_witness(fit_x, fit_y)
        probe, network_gap, best_at, done = fit_network(fit_x, fit_y, check_x, check_y, updates, seed + k, g, progress)
        kept.append(best_at)
        ran.append(done)
        gaps = {"network": network_gap, "linear": gap(lambda v: v @ w, check_x, check_y),
                "spread": gap(spread_witness(fit_x, fit_y), check_x, check_y)}
        chosen.append(max(gaps, key=gaps.get))
        read_x, read_y = xs[x_folds == k], ys[y_folds == k]
        if chosen[-1] != "linear":
            f = probe.f if chosen[-1] == "network" else spread_witness(rest_x, rest_y)
            points = torch.cat([read_x[:256], read_y[:256]])
            lipschitz = max(lipschitz, empirical_lipschitz(f, points, points))
            with torch.no_grad():
                fx[x_folds == k], fy[y_folds == k] = f(read_x).double(), f(read_y).double()
            continue
        lipschitz = max(lipschitz, 1.0)
        if len(xs) == len(ys):  # the fold's i-th pair (x_i, y_i) read by the witness of all the other points
            w = sums - (read_x.double() - read_y.double())  # one witness a pair, (n - 1) x its means' difference
            w /= w.norm(dim=1, keepdim=True).clamp_min(1e-300)
            fx[x_folds == k], fy[y_folds == k] = (read_x.double() * w).sum(1), (read_y.double() * w).sum(1)
        else:  # the fold read by the witness of the other folds
            w = linear_witness(rest_x, rest_y).double()
            fx[x_folds == k], fy[y_folds == k] = read_x.double() @ w, read_y.double() @ w
    progress.close()
    se = math.sqrt(fx.var().item() / len(fx) + fy.var().item() / len(fy))
    return {"value": (fx.mean() - fy.mean()).item() * scale, "se": se * scale, "lipschitz": lipschitz,
            "folds": folds, "witnesses": chosen, "updates": kept, "ran": ran,
            "seconds": time.perf_counter() - start}
