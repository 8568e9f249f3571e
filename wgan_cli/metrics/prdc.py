"""Fidelity and diversity apart: improved precision and recall (Kynkäänniemi et al. 2019, k = 3)
and density and coverage (Naeem et al. 2020, k = 5) between real features X (N rows) and
generated features Y (M rows).

With r_k(x) the distance from x to its k-th nearest neighbour in its own set (itself excluded):

    precision = 1/M  sum_j 1[ exists i: |y_j - x_i| < r_k(x_i) ]     generated samples on the real manifold
    recall    = 1/N  sum_i 1[ exists j: |x_i - y_j| < r_k(y_j) ]     real samples on the generated manifold
    density   = 1/(kM) sum_j sum_i 1[ |y_j - x_i| < r_k(x_i) ]       how many real balls hold each sample
    coverage  = 1/N  sum_i 1[ min_j |x_i - y_j| < r_k(x_i) ]         real balls that hold a sample

as the ``prdc`` package (the reference code of Naeem et al.) computes them. Distances are taken
in blocks of rows, so memory stays bounded whatever N and M: the peak is about
``block_bytes`` times a few temporaries plus O(N + M) (``peak_bytes``), where the unblocked
computation holds N x N, M x M and N x M float matrices (10k x 10k: 800 MB each in float64;
50k x 50k: 20 GB each).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

K_PR, K_DC = 3, 5  # the papers' neighbourhood sizes
BLOCK_BYTES = 64 * 2**20  # one block of distances


@dataclass(frozen=True)
class PRDC:
    precision: float
    recall: float
    density: float
    coverage: float

    def as_dict(self, prefix: str = "", suffix: str = "") -> dict[str, float]:
        return {f"{prefix}{k}{suffix}": v for k, v in vars(self).items()}


def _rows(n: int, cols: int, block_bytes: int) -> int:
    return max(1, min(n, block_bytes // (8 * max(1, cols))))


def _as_tensor(x: Tensor | np.ndarray, device: torch.device) -> Tensor:
    x = x.detach() if isinstance(x, Tensor) else torch.from_numpy(np.asarray(x))
    return x.to(device=device, dtype=torch.float64).flatten(1)


def kth_neighbour_radii(x: Tensor, k: int, block_bytes: int = BLOCK_BYTES) -> Tensor:
    """r_k(x_i) for every row: the (k + 1)-th smallest distance to the set, the first being 0 to itself."""
    if len(x) <= k:
        raise ValueError(f"{len(x)} samples: k = {k} nearest neighbours need at least {k + 1}")
    rows = _rows(len(x), len(x), block_bytes)
    return torch.cat([torch.cdist(x[i:i + rows], x).kthvalue(k + 1, dim=1).values for i in range(0, len(x), rows)])


def prdc(real: Tensor | np.ndarray, fake: Tensor | np.ndarray, k_pr: int = K_PR, k_dc: int = K_DC,
         block_bytes: int = BLOCK_BYTES) -> PRDC:
    """The four metrics between two feature sets (rows are samples), precision and recall with
    ``k_pr`` neighbours, density and coverage with ``k_dc``."""
    # on the GPU where either side already is (Inception features during training), else the CPU
    device = next((v.device for v in (fake, real) if isinstance(v, Tensor) and v.device.type != "cpu"),
                  torch.device("cpu"))
    x, y = _as_tensor(real, device), _as_tensor(fake, device)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"features of different sizes: {x.shape[1]} and {y.shape[1]}")
    radii_x = {k: kth_neighbour_radii(x, k, block_bytes) for k in {k_pr, k_dc}}
    radius_y = kth_neighbour_radii(y, k_pr, block_bytes)
    on_real = torch.zeros(len(y), dtype=torch.bool, device=device)  # precision: y_j in some real ball
    balls_holding = torch.zeros(len(y), dtype=torch.float64, device=device)  # density: real balls holding y_j
    on_fake = torch.zeros(len(x), dtype=torch.bool, device=device)  # recall: x_i in some generated ball
    nearest_fake = torch.empty(len(x), dtype=torch.float64, device=device)  # coverage: min_j |x_i - y_j|
    rows = _rows(len(x), len(y), block_bytes)
    for i in range(0, len(x), rows):
        d = torch.cdist(x[i:i + rows], y)
        on_real |= (d < radii_x[k_pr][i:i + rows, None]).any(0)
        balls_holding += (d < radii_x[k_dc][i:i + rows, None]).sum(0)
        on_fake[i:i + rows] = (d < radius_y[None, :]).any(1)
        nearest_fake[i:i + rows] = d.min(1).values
    return PRDC(precision=on_real.double().mean().item(), recall=on_fake.double().mean().item(),
                density=(balls_holding.mean() / k_dc).item(),
                coverage=(nearest_fake < radii_x[k_dc]).double().mean().item())


def peak_bytes(n: int, m: int, block_bytes: int = BLOCK_BYTES) -> int:
    """About the most memory ``prdc`` holds for N real and M generated samples (features aside):
    a block of distances and its comparison masks, and the per-sample vectors."""
    return 3 * min(block_bytes, 8 * max(n, m) ** 2) + 8 * 6 * (n + m)
