"""No critic network: the generator descends the debiased Sinkhorn divergence (Genevay et al.
2018; Feydy et al. 2019) between a real and a generated batch, computed by geomloss:

    OT_eps(a, b) = min_pi <pi, C> + eps KL(pi | a x b),   C_ij = ||x_i - y_j||_2,   eps = blur
    S_eps(a, b)  = OT_eps(a, b) - OT_eps(a, a) / 2 - OT_eps(b, b) / 2

S_eps is >= 0, zero only when a = b, and tends to W1(a, b) as blur -> 0 (blur is in the data's
units). The evaluation logs S_eps on the held-out batch as ``w1/critic``. geomloss, not POT: at
batch 128 in 2-D one differentiable evaluation took 42 ms with geomloss against 468 ms with
``ot.sinkhorn2`` on a 2-core CPU (2026-11-30).
"""

from __future__ import annotations

from torch import Tensor

from wgan_cli.critic.base import STRATEGIES, LipschitzStrategy
from wgan_cli.schema.critic import SinkhornConfig


@STRATEGIES.register("sinkhorn", SinkhornConfig)
class Sinkhorn(LipschitzStrategy):
    capturable = False  # geomloss sizes its eps-scaling schedule on the host

    def __init__(self, cfg: SinkhornConfig) -> None:
        super().__init__(cfg)
        from geomloss import SamplesLoss  # lazy: geomloss loads only where it is used

        self.divergence = SamplesLoss("sinkhorn", p=1, blur=cfg.blur, scaling=cfg.scaling, debias=True,
                                      backend="tensorized")

    def generator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        """S_eps(fake, real) over the flattened samples, differentiable in ``fake``."""
        return self.divergence(fake.flatten(1).float(), real.flatten(1).float())
