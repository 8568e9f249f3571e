"""The experiment presets (configs/experiment/): every file tested, each composes and trains two steps,
each carries its paper's recipe."""

from __future__ import annotations


import numpy as np
import pytest

from wgan_cli.training import Trainer

from helpers import ROOT, compose_config


PRESETS = ["wgan_clip_cifar10_cnn", "wgan_gp_cifar10_cnn", "sngan_cifar10_cnn",
           "wgan_gp_cifar10_resnet", "sngan_cifar10_resnet", "toy_wgan_gp", "digits"]


def test_every_preset_file_is_tested():
    folder = ROOT / "configs" / "experiment"
    assert sorted(p.stem for p in folder.glob("*.yaml")) == sorted(PRESETS)


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_each_preset_composes_and_runs_two_steps(preset, cifar_root, tmp_path):
    data = [f"data.root={cifar_root}"] if "cifar10" in preset else []
    cfg = compose_config(
        f"experiment={preset}", *data, "batch_size=4", "batch_size_g=4",
        "steps=2", "eval.n=8", "eval.every=0", "device=cpu",
        "fid.num_samples=4", "fid.reference_n=4", f"fid.cache_dir={tmp_path / 'fid'}",
        "probe.updates=2", "probe.batch=4", "probe.n=8",  # the image probe, on by default, read once: kept short
    )
    assert cfg.steps == 2 and cfg.batch_size == 4
    metrics = Trainer(cfg, tmp_path / "run").fit()
    assert metrics["w1/exact"] > 0 and np.isfinite(metrics.get("w1/critic", metrics.get("gap/critic")))
    if cfg.probe.every:  # on by default for image data: the conv probe on every image preset's shape
        assert 0 < metrics["lipschitz/probe"] <= 1 + 1e-3
    if "cifar10" in preset:  # the CIFAR presets log FID (every 5000 steps and at the end)
        assert cfg.fid.every == 5000 and metrics["fid/fid4_train"] > 0


def test_presets_carry_their_published_recipes():
    gp = compose_config("experiment=wgan_gp_cifar10_resnet")
    assert (gp.critic.name, gp.model.name, gp.n_critic, gp.batch_size, gp.batch_size_g) == ("gp", "resnet32", 5, 64, 128)
    assert (gp.optim.lr_g, list(gp.optim.betas), str(gp.optim.decay.value)) == (2e-4, [0.0, 0.9], "linear")
    sn = compose_config("experiment=sngan_cifar10_cnn")
    assert (sn.critic.name, sn.loss.name, sn.n_critic, sn.optim.lr_d) == ("sn", "hinge", 1, 2e-4)
    assert compose_config("experiment=sngan_cifar10_resnet").model.g_channels == 256
    toy = compose_config("experiment=toy_wgan_gp")
    assert (toy.model.width, toy.critic.weight, toy.batch_size, toy.n_critic) == (512, 0.1, 256, 5)
