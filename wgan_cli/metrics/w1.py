"""Exact Wasserstein-1 between two empirical distributions, with POT.

    W1(mu, nu) = min_{Gamma in U(a, b)} <Gamma, D>,  D_ij = ||x_i - y_j||_2,

solved exactly by the network simplex (``ot.emd2``); uniform weights a, b.
"""

from __future__ import annotations

import numpy as np
import ot
import torch


def _as_2d_float64(x: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


def exact_w1(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, num_itermax: int = 1_000_000) -> float:
    """Exact W1 (Euclidean ground cost) between the uniform empirical measures on x and y."""
    xs, ys = _as_2d_float64(x), _as_2d_float64(y)
    if xs.shape[1] != ys.shape[1]:
        raise ValueError(f"samples have different dimensions: {xs.shape[1]} and {ys.shape[1]}")
    cost = ot.dist(xs, ys, metric="euclidean")
    return float(ot.emd2([], [], cost, numItermax=num_itermax))
