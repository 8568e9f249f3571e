"""Wasserstein-1 between two empirical distributions, with POT and SciPy.

    W1(mu, nu) = min_{Gamma in U(a, b)} <Gamma, C>              (primal)
               = max_{f_i + g_j <= C_ij} a.f + b.g               (dual)
               = sup_{Lip(phi) <= 1} E_mu phi - E_nu phi          (Kantorovich-Rubinstein, metric C)

- ``exact_w1``: the network simplex (``ot.emd2``); on the line, sorted quantiles (``exact_w1_1d``).
- ``lp_w1``: primal and dual as linear programs (``scipy.optimize.linprog``, HiGHS), small inputs.
- ``sinkhorn_w1``: entropic OT (``ot.sinkhorn2``), biased upward by the regularization.
- ``sliced_w1``: the mean over random directions of the 1-D W1 of the projections
  (``ot.sliced_wasserstein_distance``, p = 1), a lower bound that scales to 100k samples.
Weights are uniform unless given; the ground cost is Euclidean unless ``metric="sqeuclidean"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ot
import torch

from wgan_cli.errors import UserError

LP_MAX_PAIRS = 90_000  # n * m above which lp_w1 refuses (300 x 300 points)


def _as_2d_float64(x: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


def cost_matrix(x, y, metric: str = "euclidean") -> np.ndarray:  # noqa: ANN001
    """The n x m ground costs ||x_i - y_j|| (or their squares), exact where it matters: the squared
    distances come from ||x||^2 + ||y||^2 - 2 <x, y> (one matrix product, ``ot.dist``) after centring
    both samples on their common mean, and every entry small enough for that sum to have lost
    digits to cancellation is recomputed as sum_k (x_ik - y_jk)^2. Identical points cost exactly 0."""
    xs, ys = _as_2d_float64(x), _as_2d_float64(y)
    if xs.shape[1] != ys.shape[1]:
        raise ValueError(f"samples have different dimensions: {xs.shape[1]} and {ys.shape[1]}")
    centre = (xs.sum(0) + ys.sum(0)) / (len(xs) + len(ys))
    xs, ys = xs - centre, ys - centre
    squared = ot.dist(xs, ys, metric="sqeuclidean")
    norms_x, norms_y = (xs * xs).sum(1), (ys * ys).sum(1)
    for first in range(0, len(xs), 1024):  # row blocks: no second n x m array
        block = squared[first:first + 1024]
        rows, cols = np.nonzero(block <= CANCELLATION * (norms_x[first:first + 1024, None] + norms_y[None, :]))
        for start in range(0, len(rows), 4096):
            i, j = rows[start:start + 4096], cols[start:start + 4096]
            block[i, j] = ((xs[first + i] - ys[j]) ** 2).sum(1)
    np.maximum(squared, 0, out=squared)
    return squared if metric == "sqeuclidean" else np.sqrt(squared, out=squared)


CANCELLATION = 1e-4  # below this share of ||x||^2 + ||y||^2, a squared distance is recomputed directly


def _weights(a, n: int) -> np.ndarray:  # noqa: ANN001
    return np.full(n, 1.0 / n) if a is None else np.asarray(a, dtype=np.float64) / np.sum(a)


def exact_w1(x, y, a=None, b=None, metric: str = "euclidean", num_itermax: int = 1_000_000) -> float:  # noqa: ANN001
    """Exact optimal transport cost (W1 for the Euclidean cost) between weighted samples x and y;
    on the line by sorting (``exact_w1_1d``), elsewhere by the network simplex on the n x m costs."""
    xs, ys = _as_2d_float64(x), _as_2d_float64(y)
    if xs.shape[1] == ys.shape[1] == 1:
        return exact_w1_1d(xs, ys, a, b, p=1 if metric == "euclidean" else 2)
    cost = cost_matrix(xs, ys, metric)
    return float(ot.emd2(_weights(a, len(cost)), _weights(b, cost.shape[1]), cost, numItermax=num_itermax))


def exact_w1_1d(x, y, a=None, b=None, p: int = 1) -> float:  # noqa: ANN001
    """On the line the monotone coupling is optimal for every convex cost, so
    W_p^p = int_0^1 |F^-1(t) - G^-1(t)|^p dt, the distance between the quantile functions, computed by
    sorting (``ot.wasserstein_1d``): O((n + m) log(n + m)) time, O(n + m) memory, no size cap."""
    xs, ys = _as_2d_float64(x).ravel(), _as_2d_float64(y).ravel()
    wa = None if a is None else _weights(a, len(xs))
    wb = None if b is None else _weights(b, len(ys))
    return float(ot.wasserstein_1d(xs, ys, wa, wb, p=p))


def sinkhorn_w1(x, y, reg: float, a=None, b=None, metric: str = "euclidean") -> float:  # noqa: ANN001
    """<Gamma_reg, C> for the entropic plan (``ot.sinkhorn2``, log-domain for small ``reg``)."""
    cost = cost_matrix(x, y, metric)
    scale = cost.max() or 1.0  # regularize relative to the cost's scale
    value = ot.sinkhorn2(_weights(a, len(cost)), _weights(b, cost.shape[1]), cost / scale, reg,
                         method="sinkhorn_log", numItermax=100_000, stopThr=1e-10)
    return float(value) * scale


def sliced_w1(x, y, projections: int = 200, seed: int = 0) -> float:  # noqa: ANN001
    xs, ys = _as_2d_float64(x), _as_2d_float64(y)
    return float(ot.sliced_wasserstein_distance(xs, ys, n_projections=projections, p=1, seed=seed))


@dataclass
class LPSolution:
    primal: float
    dual: float
    plan: np.ndarray  # [n, m]
    f: np.ndarray  # [n] potentials on x
    g: np.ndarray  # [m] potentials on y


def lp_w1(x, y, a=None, b=None, metric: str = "euclidean") -> LPSolution:  # noqa: ANN001
    """The primal and the dual linear programs of OT, solved separately with HiGHS."""
    from scipy.optimize import linprog  # lazy: scipy loads only where it is used
    from scipy.sparse import coo_matrix, vstack  # lazy: scipy loads only where it is used

    cost = cost_matrix(x, y, metric)
    n, m = cost.shape
    if n * m > LP_MAX_PAIRS:
        raise UserError(f"--method lp: {n} x {m} points is too large for the linear program "
                        f"(at most {LP_MAX_PAIRS} pairs); use --method exact")
    a, b = _weights(a, n), _weights(b, m)
    rows = np.repeat(np.arange(n), m)  # variable k = i * m + j
    cols = np.tile(np.arange(m), n)
    k = np.arange(n * m)
    row_sums = coo_matrix((np.ones(n * m), (rows, k)), shape=(n, n * m))
    col_sums = coo_matrix((np.ones(n * m), (cols, k)), shape=(m, n * m))
    primal = linprog(cost.ravel(), A_eq=vstack([row_sums, col_sums]), b_eq=np.concatenate([a, b]),
                     bounds=(0, None), method="highs")
    # dual: max a.f + b.g  s.t. f_i + g_j <= C_ij, i.e. minimize -(a.f + b.g)
    pair = coo_matrix((np.ones(2 * n * m), (np.concatenate([k, k]), np.concatenate([rows, n + cols]))),
                      shape=(n * m, n + m))
    dual = linprog(-np.concatenate([a, b]), A_ub=pair, b_ub=cost.ravel(), bounds=(None, None), method="highs")
    if primal.status != 0 or dual.status != 0:
        raise UserError(f"--method lp: the solver failed ({primal.message}; {dual.message})")
    return LPSolution(primal.fun, -dual.fun, primal.x.reshape(n, m), dual.x[:n], dual.x[n:])


def kr_potential(x, y, f: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, float]:  # noqa: ANN001
    """The KR form of an optimal dual pair for the Euclidean cost: the c-transforms
    g <- min_i (C_ij - f_i), f <- min_j (C_ij - g_j) make phi = f on x, -g on y one 1-Lipschitz
    function (so g = -f up to a constant where x and y meet). Returns phi on x then y, and its
    largest Lipschitz ratio over all pairs of points (1 up to rounding)."""
    cost = cost_matrix(x, y)
    g = (cost - f[:, None]).min(0)
    f = (cost - g[None, :]).min(1)
    points = np.concatenate([_as_2d_float64(x), _as_2d_float64(y)])
    phi = np.concatenate([f, -g])
    dist = ot.dist(points, points, metric="euclidean")
    mask = dist > 1e-12
    ratio = np.abs(phi[:, None] - phi[None, :])[mask] / dist[mask]
    return phi, float(ratio.max()) if ratio.size else 0.0
