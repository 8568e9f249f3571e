"""critic=orthonormal (1-Lipschitz by construction) and critic=sinkhorn (no critic network)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers import FAST, compose_config, run_cli, scalars
from wgan_cli.critic import STRATEGIES
from wgan_cli.critic.sinkhorn import SinkhornConfig
from wgan_cli.errors import ConfigError
from wgan_cli.metrics.lipschitz import empirical_lipschitz
from wgan_cli.training import Trainer
from wgan_cli.training.critic_fit import fit_critic

ORTHO = ["critic=orthonormal", "model.width=32", "batch_size=32", "eval.n=64", "log_every=1"]


def tensors_of(state, prefix=""):  # noqa: ANN001, ANN201
    if isinstance(state, torch.Tensor):
        yield prefix, state
    elif isinstance(state, dict):
        for k, v in state.items():
            yield from tensors_of(v, f"{prefix}/{k}")


def test_the_orthonormal_critic_stays_1_lipschitz_after_training_with_a_large_learning_rate(tmp_path):
    cfg = compose_config(*ORTHO, "optim.lr_d=0.05", "steps=30", "eval.every=0")
    trainer = Trainer(cfg, tmp_path)
    for _ in range(30):
        trainer.train_step()
    trainer.nets.D.train()  # the weights the next update would use (eval mode reuses the last ones)
    points = torch.cat([trainer.data.sample(512, torch.Generator().manual_seed(0)), 3 * torch.randn(512, 2)])
    with torch.no_grad():
        trainer.nets.D(points[:2])  # orthonormalize the current weights
    trainer.nets.D.eval()
    lipschitz = empirical_lipschitz(trainer.nets.D, points, points)
    assert 0.3 < lipschitz <= 1.0 + 1e-3  # a bound by construction; the learned f uses much of it
    x = points.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(trainer.nets.D(x).sum(), x)
    assert grad.norm(dim=1).max() <= 1.0 + 1e-3


def test_the_orthonormal_critic_builds_on_cnn32_and_refuses_resnet32(tmp_path, make_trainer):
    cfg = compose_config("critic=orthonormal", "data=digits", "model.channels=8", "batch_size=8", "steps=2",
                         "eval.n=16", "fid.every=0")
    trainer = Trainer(cfg, tmp_path)
    trainer.train_step()
    import deel.torchlip as lip

    kinds = {kind for m in trainer.nets.D.modules()
             for kind in (lip.SpectralConv2d, lip.SpectralLinear, lip.GroupSort2, torch.nn.LeakyReLU)
             if isinstance(m, kind)}
    assert kinds == {lip.SpectralConv2d, lip.SpectralLinear, lip.GroupSort2}
    with pytest.raises(ConfigError, match="residual sums"):
        make_trainer("critic=orthonormal", "data=digits", "model=resnet32", "fid.every=0", run_dir="res")


@pytest.mark.slow
def test_the_orthonormal_critic_on_resnet32_is_one_line_from_the_cli(tmp_path):
    result = run_cli("train", "critic=orthonormal", "data=digits", "model=resnet32", "steps=1",
                     f"hydra.run.dir={tmp_path / 'resnet'}")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "wgan-cli: error: critic=orthonormal: the ResNetCritic has residual sums or normalization layers; "
        "it supports feed-forward critics, model=mlp and model=cnn32"]


@pytest.mark.parametrize("critic", ["orthonormal", "sinkhorn"])
def test_the_new_critics_checkpoint_and_resume_exactly(tmp_path, critic, make_trainer):
    run = [f"critic={critic}", *FAST, "eval.every=5", "checkpoint.every=5", "optim.decay=none"]  # same lr schedule
    make_trainer(*run, "steps=10", run_dir="straight").fit()
    make_trainer(*run, "steps=5", run_dir="split").fit()
    resumed = make_trainer(*run, "steps=10", run_dir="split")
    assert resumed.state.step == 5
    resumed.fit()
    a, b = (torch.load(tmp_path / d / "checkpoints" / "last.pt", weights_only=True) for d in ("straight", "split"))
    ta, tb = dict(tensors_of(a)), dict(tensors_of(b))
    assert ta.keys() == tb.keys() and a["step"] == 10
    for name in ta:
        assert torch.equal(ta[name], tb[name]), name


def test_the_sinkhorn_gradient_moves_generated_points_toward_the_data():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(256, 2, generator=g) * 0.3 + torch.tensor([2.0, -1.0])
    fake = (torch.randn(256, 2, generator=g) * 0.3).requires_grad_(True)
    sinkhorn = STRATEGIES.build(SinkhornConfig(blur=0.05))
    before = sinkhorn.generator_loss(real, fake)
    (grad,) = torch.autograd.grad(before, fake)
    moved = fake.detach() - 2.0 * grad * len(fake)  # a descent step per point
    after = sinkhorn.generator_loss(real, moved)
    assert after.item() < 0.5 * before.item()
    shift = (moved - fake.detach()).mean(0)
    assert float(torch.nn.functional.cosine_similarity(shift, torch.tensor([2.0, -1.0]), dim=0)) > 0.95
    # as blur -> 0 the debiased divergence approaches W1 (here a translation: W1 = |(2, -1)| = 2.24)
    assert before.item() == pytest.approx(5 ** 0.5, rel=0.1)


def test_a_sinkhorn_run_logs_the_divergence_as_its_estimate_and_trains_no_critic(tmp_path):
    cfg = compose_config("critic=sinkhorn", *FAST, "steps=20", "eval.every=10")
    trainer = Trainer(cfg, tmp_path)
    critic_before = {k: v.clone() for k, v in trainer.nets.D.state_dict().items()}
    trainer.fit()
    assert all(torch.equal(v, trainer.nets.D.state_dict()[k]) for k, v in critic_before.items())
    logged = scalars(tmp_path)
    assert "w1/critic" in logged and "w1/exact" in logged
    assert not any(tag.startswith("lipschitz/") for tag in logged) and "loss/critic" not in logged
    assert all(value > 0 for _, value in logged["w1/critic"])  # a divergence: positive between distinct samples


@pytest.mark.parametrize("args, message", [
    (["critic=sinkhorn", "critic.blur=0"], "critic.blur=0.0: the entropic blur must be > 0"),
    (["critic=sinkhorn", "critic.scaling=1.5"], "critic.scaling=1.5: must be in (0, 1)"),
    (["critic=sinkhorn", "data=digits"], "critic=sinkhorn: compares flat samples (the toy data)"),
    (["critic=orthonormal", "critic.eps_bjorck=-1"], "critic.eps_bjorck=-1.0: must be > 0"),
])
@pytest.mark.slow
def test_bad_values_of_the_new_critics_are_one_line(tmp_path, args, message):
    result = run_cli("train", *args, "steps=1", f"hydra.run.dir={tmp_path}")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.slow
def test_w1_critic_fits_the_orthonormal_critic_with_its_recipe(tmp_path):
    rng = np.random.default_rng(0)
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, rng.standard_normal((300, 2)))
    np.save(b, rng.standard_normal((300, 2)) + [1.5, 0.0])  # W1 = 1.5: a translation
    result = run_cli("w1", str(a), str(b), "--method", "exact,critic", "--critic", "orthonormal",
                     "--steps", "300", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)["methods"]
    assert out["critic"]["empirical_lipschitz"] <= 1.0 + 1e-3
    assert 0.85 * out["exact"]["value"] < out["critic"]["kr_estimate"] <= out["exact"]["value"] + 1e-6
    assert "critic=orthonormal with its recipe" in out["critic"]["how"]


def test_the_critic_fit_uses_the_strategy_recipe_and_refuses_a_critic_free_strategy():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((200, 2)), rng.standard_normal((200, 2)) + 1.0
    # clip's recipe is RMSprop at 5e-5 with c = 0.01: after 50 steps its f is nearly flat
    clip, gp = (fit_critic(x, y, c, steps=50, overrides=("model.width=32",)) for c in ("clip", "gp"))
    assert clip.lipschitz < 0.1 < gp.lipschitz
    with pytest.raises(Exception, match="critic=sinkhorn: has no critic network to fit"):
        fit_critic(x, y, "sinkhorn", steps=1)
