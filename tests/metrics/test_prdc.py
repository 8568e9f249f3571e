"""Precision, recall, density and coverage (wgan_cli/metrics/prdc.py) against the reference code."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wgan_cli.metrics.prdc import K_DC, K_PR, peak_bytes, prdc


@pytest.mark.parametrize("k", [3, 5])
def test_equal_to_the_reference_prdc_package(k):
    from prdc import compute_prdc

    rng = np.random.default_rng(k)
    real = rng.normal(size=(400, 64))
    fake = rng.normal(size=(300, 64)) * 1.2 + 0.3
    ours = prdc(real, fake, k_pr=k, k_dc=k)
    theirs = compute_prdc(real, fake, nearest_k=k)
    for key, value in vars(ours).items():
        assert value == pytest.approx(float(theirs[key]), abs=1e-6), key
    assert 0 < ours.precision < 1 and 0 < ours.coverage < 1  # a pair where every metric can be wrong


def test_blocks_give_the_unblocked_values():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(257, 8)), rng.normal(size=(199, 8)) + 0.5
    whole = prdc(real, fake, block_bytes=2**40)
    row_by_row = prdc(real, fake, block_bytes=8)  # one row a block
    assert whole == row_by_row
    assert peak_bytes(10_000, 10_000) < 250 * 2**20 and peak_bytes(50_000, 50_000) < 250 * 2**20


def points(n: int, modes: list[int], generator: torch.Generator) -> torch.Tensor:
    """The 8 gaussians (data=gaussians8's layout) drawn only from ``modes``."""
    from wgan_cli.data import DATASETS
    from wgan_cli.train import compose_config

    data = DATASETS.build(compose_config([]).data, torch.device("cpu"))
    x = data.sample(8 * n, generator)
    angle = torch.atan2(x[:, 1], x[:, 0]) % (2 * np.pi)
    mode = torch.round(angle / (np.pi / 4)).long() % 8
    return x[torch.isin(mode, torch.tensor(modes))][:n]


def test_a_generator_equal_to_the_data_scores_near_one_and_one_mode_of_eight_near_an_eighth():
    g = torch.Generator().manual_seed(0)
    real, same = points(1000, list(range(8)), g), points(1000, list(range(8)), g)
    perfect = prdc(real, same)
    assert perfect.precision > 0.9 and perfect.recall > 0.9 and 0.8 < perfect.density < 1.2
    assert perfect.coverage > 0.9
    collapsed = prdc(real, points(1000, [0], g))
    assert collapsed.recall <= 1 / 8 + 0.03 and collapsed.coverage <= 1 / 8 + 0.03
    assert collapsed.precision > 0.9  # what it draws is on the data: fidelity without diversity
    assert (K_PR, K_DC) == (3, 5)


def test_too_few_samples_for_k_neighbours_and_mismatched_features_are_refused():
    with pytest.raises(ValueError, match="3 samples: k = 3 nearest neighbours need at least 4"):
        prdc(np.zeros((3, 2)), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="features of different sizes: 2 and 3"):
        prdc(np.zeros((10, 2)), np.zeros((10, 3)))


def test_fid_prdc_with_too_few_images_for_the_neighbourhoods_is_one_line(tmp_path):
    from wgan_cli.errors import ConfigError
    from wgan_cli.train import compose_config
    from wgan_cli.training import Trainer

    cfg = compose_config(["data=digits", "fid.every=1", "fid.num_samples=4", "fid.prdc=true",
                          f"fid.cache_dir={tmp_path}"])
    with pytest.raises(ConfigError) as caught:
        Trainer(cfg, tmp_path / "run")
    assert str(caught.value).startswith("fid.prdc=true: ") and "need more than 5 on each side" in str(caught.value)


def test_precision_and_recall_equal_torch_fidelitys_away_from_ties():
    """torch-fidelity counts a point on a ball's boundary as inside (<=), prdc and we do not (<):
    equal wherever no distance ties a radius, as with continuous features."""
    from torch_fidelity.metric_prc import prc_features_to_metric

    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(300, 32, generator=g, dtype=torch.float64), torch.randn(250, 32, generator=g,
                                                                                       dtype=torch.float64) + 0.4
    theirs = prc_features_to_metric(fake, real, prc_neighborhood=3, prc_batch_size=10000, save_cpu_ram=False,
                                    verbose=False)
    ours = prdc(real, fake)
    assert (ours.precision, ours.recall) == pytest.approx((theirs["precision"], theirs["recall"]), abs=1e-6)
