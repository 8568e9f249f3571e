"""One generator step's optimizer updates, the part of training a CUDA graph can capture.

    for k in 1..n_critic:  L_D = loss.critic(f(x_k), f(G(z_k))) + penalty;  step D;  after_step(D)
    L_G = loss.generator(f(G(z)));  step G

Under the Wasserstein loss L_D = E f(G(z)) - E f(x), L_G = -E f(G(z)). One ``torch.Generator``
draws the data, the noise and the penalty's interpolation weights; under data parallelism every
rank draws the global batch and uses its own rows.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import torch
from omegaconf import DictConfig
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from wgan_cli.distributed import Shard
from wgan_cli.training.components import value

if TYPE_CHECKING:
    from wgan_cli.training.run_state import RunState

log = logging.getLogger("wgan_cli")
Terms = dict[str, Tensor | None]


class Step:
    """The critic and generator updates of one generator step, with no host work (no ``.item()``,
    no Python decision on a tensor's value) unless ``skip_nan`` asks for one per update."""

    def __init__(self, cfg: DictConfig, data, strategy, loss, nets: dict[str, nn.Module],  # noqa: ANN001
                 optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer], state: RunState,
                 shard: Shard, device: torch.device, skip_nan: bool) -> None:
        self.cfg, self.data, self.strategy, self.loss = cfg, data, strategy, loss
        self.G, self.D, self.G_train, self.D_train = nets["G"], nets["D"], nets["G_train"], nets["D_train"]
        self.opt_g, self.opt_d = optimizers
        self.state, self.rng, self.shard, self.device = state, state.rng, shard, device
        self.g_batch_norm = self.G is not None and any(isinstance(m, _BatchNorm) for m in self.G.modules())
        self.bf16 = value(cfg.train.amp) == "bf16"
        self.skip_nan = skip_nan
        self.graphed = False  # set when a CUDA graph replays this step (autocast keeps no weight cache then)

    def noise(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.randn(n, self.cfg.model.noise_dim, device=self.device, generator=generator)

    def __call__(self) -> tuple[dict[str, Tensor], list[Terms]]:
        """``n_critic`` critic updates and one generator update; returns the logged stats and each
        update's loss terms."""
        cfg, B, rows = self.cfg, self.cfg.batch_size, self.shard.rows
        if not self.strategy.has_network:
            return self.divergence_step()
        updates: list[Terms] = []
        z = self.noise(cfg.n_critic * B, self.rng).view(cfg.n_critic, B, -1)
        with torch.no_grad(), self.autocast():  # G is fixed during the critic steps: one forward for all,
            if self.g_batch_norm:  # unless BatchNorm would then normalize by n_critic batches at once
                fakes = [self.G(rows(zk)).float() for zk in z]
            else:
                fakes = self.G(torch.cat([rows(zk) for zk in z])).float().chunk(cfg.n_critic)
        for fake in fakes:
            real = self.data.batch_rows(B, self.rng, self.shard)
            terms, f_real, f_fake = self.critic_update(real, fake)
            updates.append(terms)

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

        loss_d, penalty = terms["loss/critic"], terms["loss/penalty"]
        stats = {"loss/critic": (loss_d if penalty is None else loss_d + penalty).detach(),
                 "loss/generator": loss_g.detach()}
        stats["w1/critic_batch"] = (f_real.mean() - f_fake.mean()).detach()
        if penalty is not None:
            stats["loss/penalty"] = penalty.detach()
        return stats, updates

    def divergence_step(self) -> tuple[dict[str, Tensor], list[Terms]]:
        """A critic-free strategy (critic=sinkhorn): L_G = strategy.generator_loss(real, G(z)) on a
        fresh real batch; step G."""
        B = self.cfg.batch_size
        real = self.data.batch_rows(B, self.rng, self.shard)
        with self.autocast():
            fake = self.G_train(self.shard.rows(self.noise(self.cfg.batch_size_g or B, self.rng))).float()
        loss_g = self.strategy.generator_loss(real, fake)
        terms = {"loss/generator": loss_g}
        if self.finite(terms):
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        return {"loss/generator": loss_g.detach(), "w1/critic_batch": loss_g.detach()}, [terms]

    def critic_update(self, real: Tensor, fake: Tensor) -> tuple[Terms, Tensor, Tensor]:
        """One critic update on a real and a generated batch: L_D = loss.critic(f(real), f(fake))
        + penalty; step D; ``after_step(D)``. Returns the loss terms and f on both batches.
        ``wgan-cli w1 --method critic`` fits a critic to two fixed samples through this too."""
        b = real.shape[0]
        with self.autocast():
            f = self.D_train(torch.cat([real, fake])).float()  # critics have no batch statistics
        f_real, f_fake = f[:b], f[b:]
        loss_d = self.loss.critic(f_real, f_fake)
        penalty = self.strategy.penalty(self.D, real, fake, self.rng, self.shard)
        terms = {"loss/critic": loss_d, "loss/penalty": penalty}
        if self.finite(terms):
            self.opt_d.zero_grad(set_to_none=True)
            (loss_d if penalty is None else loss_d + penalty).backward()
            self.opt_d.step()
            self.strategy.after_step(self.D)
        return terms, f_real, f_fake

    def autocast(self) -> torch.autocast:
        """``train.amp=bf16``: forward passes in bfloat16 (no loss scaling needed: bf16 has float32's
        range). The penalty computes its double backward in float32 regardless (critic/gp.py)."""
        # a CUDA graph cannot keep autocast's cache of cast weights across replays
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16, cache_enabled=not self.graphed)

    def finite(self, terms: Terms) -> bool:
        """Under ``train.on_nan=skip``: True when every term is finite, else the update is skipped
        (one host synchronization per update). Under ``stop``: True; the trainer hands the terms to
        its ``LossWatch``, checked later all at once (no synchronization per update)."""
        if not self.skip_nan:
            return True
        bad = {name: t for name, t in terms.items() if t is not None and not bool(torch.isfinite(t).all())}
        if not bad:
            return True
        self.state.skipped += 1
        log.warning("step %d: %s; update skipped (%d so far)", self.state.step + 1,
                    ", ".join(f"{name}={t.item()}" for name, t in bad.items()), self.state.skipped)
        return False
