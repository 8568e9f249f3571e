"""Mode coverage on a mixture of gaussians, as VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et
al. 2018) count it: each generated point goes to its nearest mode centre mu_j; it is high quality
when ||x - mu_j|| / sigma < 3 (three standard deviations); a mode is captured when at least one
high-quality point went to it (PacGAN's code, ``MetricLogger``: ``dis_thre = 3``, a mode counts
when its count is non-zero; the papers draw 2500 points, a run's evaluation draws ``eval.n``).

    toy/modes        = #{j : some high-quality point went to mode j}
    toy/high_quality = share of the points within 3 sigma of their nearest mode
"""

from __future__ import annotations

import torch
from torch import Tensor

THRESHOLD = 3.0  # standard deviations


def mode_coverage(samples: Tensor, centers: Tensor, std: float) -> dict[str, float]:
    distance = torch.cdist(samples.double(), centers.double()) / std
    nearest, mode = distance.min(dim=1)
    good = nearest < THRESHOLD
    counts = torch.bincount(mode[good], minlength=len(centers))
    return {"toy/modes": float((counts > 0).sum()), "toy/high_quality": good.double().mean().item()}
