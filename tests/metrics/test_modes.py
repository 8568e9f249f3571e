"""Modes captured and high-quality samples on the gaussian mixtures (wgan_cli/metrics/modes.py)."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import FAST, compose_config, run_cli, scalars

from wgan_cli.data import DATASETS


def mixture(name: str):  # noqa: ANN201
    return DATASETS.build(compose_config(f"data={name}").data, torch.device("cpu"))


@pytest.mark.parametrize("name, modes", [("gaussians8", 8), ("gaussians25", 25)])
def test_the_data_itself_captures_every_mode_with_high_quality_samples(name, modes):
    data = mixture(name)
    found = data.mode_coverage(data.sample(2500, torch.Generator().manual_seed(0)))
    assert found["toy/modes"] == modes
    assert found["toy/high_quality"] > 0.97  # P(chi2_2 < 9) = 1 - exp(-4.5) = 0.989


def test_a_generator_on_one_mode_captures_one_and_a_blurred_one_has_few_high_quality_samples():
    data = mixture("gaussians8")
    g = torch.Generator().manual_seed(1)
    one = data.centers[0] / data.cfg.scale + data.cfg.std / data.cfg.scale * torch.randn(1000, 2, generator=g)
    assert data.mode_coverage(one) == {"toy/modes": 1.0, "toy/high_quality": pytest.approx(0.989, abs=0.015)}
    blurred = data.sample(1000, g) + 0.3 * torch.randn(1000, 2, generator=g)  # every mode, far too wide
    found = data.mode_coverage(blurred)
    assert found["toy/high_quality"] < 0.1  # a few still land near a centre: modes are counted from those


def test_every_evaluation_of_a_mixture_run_logs_them_and_the_summary_keeps_them(tmp_path, make_trainer):
    run = tmp_path / "run"
    result = run_cli("train", *FAST, "steps=4", "eval.every=2", f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr
    logged = scalars(run)
    assert [step for step, _ in logged["toy/modes"]] == [2, 4]
    final = json.loads((run / "summary.json").read_text())["final"]
    assert final["toy/modes"] == logged["toy/modes"][-1][1] and 0 <= final["toy/modes"] <= 8
    assert final["toy/high_quality"] == pytest.approx(logged["toy/high_quality"][-1][1], rel=1e-6)
    swiss = make_trainer(*FAST, "steps=2", "data=swissroll", run_dir="swiss").fit()
    assert "w1/exact" in swiss and "toy/modes" not in swiss and "toy/modes" not in scalars(tmp_path / "swiss")  # no modes
