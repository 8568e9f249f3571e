"""The probe: a second critic that only measures, ``w1/probe``.

An orthonormal MLP (deel-torchlip's Björck layers and GroupSort2, as ``critic=orthonormal``), so
Lip(f) <= 1 by construction, fitted at each of its evaluations for ``probe.updates`` Adam steps,
each on a fresh draw of real and generated samples (the toys and the generator are unlimited, so
it cannot memorize), warm-started from its previous fit; then read on a held-out draw of
``probe.n`` per side:

    w1/probe    = mean f(x_i) - mean f(G(z_j))        <= W1(P, Q) for every 1-Lipschitz f
    w1/probe_se = sqrt(var f(x) / n + var f(G(z)) / n) its standard error over the held-out draw

an unbiased estimate of a lower bound on the population W1, comparable across critics, losses and
datasets, and tight where the fit has converged (Gulrajani, Raffel and Metz 2019). It draws from
its own random streams and never touches the training networks or streams, so a run is bitwise the
same with the probe on or off; its network, optimizer and streams are saved in the checkpoint.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import Tensor, nn

from wgan_cli.metrics.lipschitz import empirical_lipschitz
from wgan_cli.training.evaluation import eval_mode

SEED_OFFSET = 104_729  # the probe's streams: (seed + offset), apart from training's and the evaluation's


class Probe:
    def __init__(self, cfg: Any, dim: int, device: torch.device, seed: int) -> None:
        from wgan_cli.critic.orthonormal import swap
        from wgan_cli.model.mlp import mlp
        from wgan_cli.schema.critic import OrthonormalConfig

        self.cfg = cfg
        with torch.random.fork_rng(devices=[]):  # its own initialization: the global stream is left as it was
            torch.manual_seed(seed + SEED_OFFSET)
            net = mlp(dim, cfg.width, cfg.depth, 1)
            swap(net, OrthonormalConfig())
        self.net = net.to(device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=(0.0, 0.9))
        self.fit_rng = torch.Generator(device).manual_seed(seed + SEED_OFFSET)
        self.held_out_rng = torch.Generator(device).manual_seed(seed + SEED_OFFSET + 1)

    def f(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1)).squeeze(1)

    def measure(self, data: Any, sampler: nn.Module, noise: Callable[[int, torch.Generator], Tensor]) -> dict[str, float]:
        """Fit on fresh draws, then read on a held-out one."""
        cfg = self.cfg
        self.net.train()
        with eval_mode(sampler):
            for _ in range(cfg.updates):
                with torch.no_grad():
                    real, fake = data.sample(cfg.batch, self.fit_rng), sampler(noise(cfg.batch, self.fit_rng))
                loss = self.f(fake).mean() - self.f(real).mean()  # ascend E_P f - E_Q f
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()
            self.net.eval()
            with torch.no_grad():
                real = data.sample(cfg.n, self.held_out_rng)
                fake = sampler(noise(cfg.n, self.held_out_rng))
                fr, ff = self.f(real).double(), self.f(fake).double()
                points = torch.cat([real[:256], fake[:256]])
                lipschitz = empirical_lipschitz(self.f, points, points)
        return {"w1/probe": (fr.mean() - ff.mean()).item(),
                "w1/probe_se": math.sqrt(fr.var().item() / len(fr) + ff.var().item() / len(ff)),
                "lipschitz/probe": lipschitz}

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict(),
                "fit_rng": self.fit_rng.get_state(), "held_out_rng": self.held_out_rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.fit_rng.set_state(state["fit_rng"])
        self.held_out_rng.set_state(state["held_out_rng"])
