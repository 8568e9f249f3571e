"""The interface every Lipschitz strategy implements.

The trainer calls, in order: ``prepare`` once on the fresh critic; per critic step
``penalty`` (added to the critic loss) and, after the optimizer step, ``after_step``.
A strategy that needs none of these leaves the default.
"""

from __future__ import annotations

from functools import cached_property

import torch
from torch import Tensor, nn

from wgan_cli.distributed import WHOLE, Shard
from wgan_cli.schema.critic import STRATEGIES, StrategyConfig  # noqa: F401  (re-exported)


class LipschitzStrategy:
    """Keeps the critic f (approximately) 1-Lipschitz, so E_P f - E_Q f estimates W1(P, Q)."""

    # The contracts the trainer reads:
    needs_double_backward = False  # ``penalty`` differentiates the critic's input gradient (create_graph)
    estimates_w1 = True  # under the Wasserstein loss, E f(real) - E f(fake) estimates W1 (else: a mean gap)
    capturable = True  # its updates can be recorded as a CUDA graph (no host decision on a tensor's value)

    def __init__(self, cfg: StrategyConfig) -> None:
        self.cfg = cfg

    @cached_property
    def has_network(self) -> bool:
        """False: no critic network; the generator descends ``generator_loss`` instead (declared
        on the config's dataclass, so that the command surface knows it without importing torch)."""
        return STRATEGIES.schema(self.cfg.name).has_network

    def prepare(self, critic: nn.Module) -> nn.Module:
        """Return the critic to train (for example with reparametrized layers)."""
        return critic

    def penalty(self, critic: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator,
                shard: Shard = WHOLE) -> Tensor | None:
        """A term added to the critic loss, or None. Under data parallelism ``real`` and ``fake``
        are this rank's rows of the global batch; random draws are made for the global batch and
        ``shard.rows`` of them used, as the single process would."""
        return None

    @torch.no_grad()
    def after_step(self, critic: nn.Module) -> None:
        """Act on the critic's parameters after each critic optimizer step."""

    def generator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        """The generator's loss where there is no critic network (``has_network = False``): a
        divergence computed from the samples themselves, differentiable in ``fake``."""
        raise NotImplementedError(f"{type(self).__name__} has a critic network: the loss trains the generator")


