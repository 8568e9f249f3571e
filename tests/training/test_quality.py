"""Time to quality (training/quality.py): the first evaluation that meets the run's bar, kept across a
resume and reported in the summary; images have a bar only with a FID target."""

from __future__ import annotations

import json

import pytest
from helpers import compose_config, run_cli, scalars

from wgan_cli.errors import ConfigError


def test_time_to_quality_is_the_first_evaluation_under_twice_the_floor(tmp_path):
    """A small eval.n makes the floor large, so the bar is met within a hundred steps or so (75 at seed 0)."""
    from wgan_cli.training import Trainer

    cfg = compose_config("steps=200", "eval.every=25", "eval.n=64", "resume=never", "checkpoint.every=0")
    t = Trainer(cfg, tmp_path)
    t.fit()
    logged = scalars(tmp_path)
    floor = dict(logged["w1/noise_floor"])
    first = next((step for step, exact in logged["w1/exact"] if exact <= 2 * floor[step]), None)
    assert first is not None and first < 200
    assert t.state.records.quality["step"] == first
    assert 0 < t.state.records.quality["seconds"] <= t.state.records.elapsed()
    assert t.quality_bar == "w1/exact <= 2 x w1/noise_floor"
    saved = t.state_dict()
    assert saved["quality"] == t.state.records.quality and saved["seconds"] >= t.state.records.quality["seconds"]


def test_time_to_quality_survives_a_resume_and_reaches_the_summary(tmp_path):
    run_dir = tmp_path / "run"
    common = ["eval.every=25", "eval.n=64", "checkpoint.every=25", f"hydra.run.dir={run_dir}"]
    first = run_cli("train", "steps=150", *common)
    assert first.returncode == 0, first.stderr
    reached = json.loads((run_dir / "summary.json").read_text())["time_to_quality"]
    assert reached["bar"] == "w1/exact <= 2 x w1/noise_floor" and reached["step"] is not None
    more = run_cli("train", "steps=200", *common)  # resumed: the bar was met in the first attempt
    assert more.returncode == 0, more.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 200
    assert summary["time_to_quality"] == reached
    from scipy.stats import spearmanr

    logged = scalars(run_dir)  # both attempts' evaluations: 25, 50, ..., 200
    tracks = summary["critic_tracks_quality"]
    assert tracks["critic"] == "w1/critic" and tracks["evaluations"] == len(logged["w1/critic"]) == 8
    expected = spearmanr([v for _, v in logged["w1/critic"]], [v for _, v in logged["w1/exact"]]).statistic
    assert tracks["spearman"]["w1/exact"] == pytest.approx(expected, abs=1e-6)


def test_images_have_a_quality_bar_only_with_a_fid_target():
    from wgan_cli.training.quality import bar, met

    cfg = compose_config("data=digits")
    assert bar(cfg, vector_data=False, fid_tag="fid/1k_train") is None
    cfg = compose_config("data=digits", "fid.target=50")
    assert bar(cfg, vector_data=False, fid_tag="fid/1k_train") == "fid/1k_train <= 50"
    assert met({"fid/1k_train": 49.0}, cfg, False, "fid/1k_train")
    assert not met({"fid/1k_train": 51.0}, cfg, False, "fid/1k_train")
    with pytest.raises(ConfigError, match="fid.target=-1"):
        from wgan_cli.validation import validate

        validate(compose_config("fid.target=-1"))
