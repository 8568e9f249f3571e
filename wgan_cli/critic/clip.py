"""Weight clipping (Arjovsky et al. 2017, WGAN): every critic parameter is clamped to [-c, c]
after each critic step, which bounds the Lipschitz constant by some K(c) -- crudely: weights
pile up at +-c and capacity suffers (Gulrajani et al. 2017, Fig. 1b)."""

from __future__ import annotations

import torch
from torch import nn

from wgan_cli.critic.base import STRATEGIES, LipschitzStrategy
from wgan_cli.schema.critic import ClipConfig


@STRATEGIES.register("clip", ClipConfig)
class WeightClipping(LipschitzStrategy):
    @torch.no_grad()
    def after_step(self, critic: nn.Module) -> None:
        for p in critic.parameters():
            p.clamp_(-self.cfg.c, self.cfg.c)
