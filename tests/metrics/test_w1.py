"""Exact W1 (POT network simplex) against known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance

from wgan_cli.metrics.w1 import exact_w1


def test_two_point_masses_are_their_distance_apart():
    assert exact_w1(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])) == pytest.approx(5.0)


def test_one_dimensional_samples_match_scipy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, 300), rng.exponential(2, 300)
    assert exact_w1(x[:, None], y[:, None]) == pytest.approx(wasserstein_distance(x, y), rel=1e-9)


def test_a_translation_costs_its_length():
    # any plan moves each point by at least <v, .>/|v|, which is exactly achieved by translating
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    v = torch.tensor([0.3, -0.4])
    assert exact_w1(x, x + v) == pytest.approx(0.5, rel=1e-6)


def test_identical_samples_have_zero_distance_and_mismatched_dims_fail():
    x = np.random.default_rng(1).normal(size=(50, 3))
    assert exact_w1(x, x) == pytest.approx(0.0, abs=1e-7)  # ot.dist expands |x-y|^2: ~1e-9 cancellation
    with pytest.raises(ValueError, match="different dimensions"):
        exact_w1(x, x[:, :2])


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean"])
def test_on_the_line_sorting_equals_the_network_simplex(metric):
    import ot

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(300, 1)), rng.exponential(size=(200, 1))
    a, b = rng.random(300), rng.random(200)
    for wa, wb in ((None, None), (a, b)):
        ua = np.full(300, 1 / 300) if wa is None else wa / wa.sum()
        ub = np.full(200, 1 / 200) if wb is None else wb / wb.sum()
        simplex = ot.emd2(ua, ub, ot.dist(x, y, metric=metric))
        assert exact_w1(x, y, wa, wb, metric=metric) == pytest.approx(simplex, rel=1e-9)


def test_on_the_line_exact_w1_takes_a_million_points_per_side():
    from wgan_cli.commands.w1 import check_memory

    x = np.random.default_rng(0).normal(size=(10**6, 1))
    assert exact_w1(x, x + 0.5) == pytest.approx(0.5, rel=1e-9)  # a translation costs its length
    check_memory(("exact",), 10**6, 10**6, dim=1)  # no n x m problem: nothing to refuse
    with pytest.raises(Exception, match="--method exact: 1000000 x 1000000 points need about"):
        check_memory(("exact",), 10**6, 10**6, dim=2)

