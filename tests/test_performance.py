"""Performance settings that must not change results: memory stays flat over a long run, and
``train.amp=bf16`` keeps the gradient penalty in float32. Speed itself is measured by
scripts/bench_train.py, not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import compose_config, run_cli, scalars

from wgan_cli.critic import STRATEGIES
from wgan_cli.critic.gp import GPConfig
from wgan_cli.gradients import input_gradient_norms, interpolate
from wgan_cli.model import MODELS
from wgan_cli.training import Trainer

MEASURE_RSS = """
import json, sys
sys.path.insert(0, "tests")
from helpers import compose_config
from wgan_cli.profiling import rss_mb
from wgan_cli.training import Trainer
cfg = compose_config("critic=gp", "model.width=256", "batch_size=256", "n_critic=2", "steps=600",
                     "log_every=10", "eval.every=0", "eval.n=256", "checkpoint.every=100")
trainer = Trainer(cfg, sys.argv[1])
rss, step = [], trainer.train_step
def recorded_step():
    stats = step()
    rss.append(rss_mb())
    return stats
trainer.train_step = recorded_step
trainer.fit()
print(json.dumps(rss))
"""


@pytest.mark.slow
def test_memory_is_flat_over_a_long_run(tmp_path):
    """Resident memory over 600 logged steps of a GP run: anything a step kept alive (a graph, a
    logged tensor with its history) would grow it by megabytes every few steps. It runs in a
    process of its own, so that what earlier tests left running in pytest's process is not
    counted. (Evaluations are left out: each one's figure moves the allocator's high-water mark
    by some 10 MiB, once.)"""
    done = subprocess.run([sys.executable, "-c", MEASURE_RSS, str(tmp_path)], capture_output=True,
                          text=True, timeout=600, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    rss = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(rss) == 600
    early, late = max(rss[100:200]), max(rss[500:600])  # after warm-up
    assert late - early < 4, f"RSS grew from {early:.0f} MiB to {late:.0f} MiB"


def critic_and_points(device: str = "cpu"):
    torch.manual_seed(0)
    cfg = compose_config("model=mlp", "model.width=256").model
    _, critic = MODELS.get("mlp")(cfg, (2,))
    real, fake = torch.randn(512, 2), torch.randn(512, 2) + 3
    return critic.to(device), real.to(device), fake.to(device)


@pytest.mark.parametrize("device, rel", [
    ("cpu", 1e-6),
    pytest.param("cuda", 1e-5, marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")),
])
def test_the_gradient_penalty_stays_float32_under_bf16_autocast(device, rel):
    critic, real, fake = critic_and_points(device)
    xhat = interpolate(real, fake, torch.Generator(device).manual_seed(1))
    gp = STRATEGIES.build(GPConfig())
    exact_norms = input_gradient_norms(critic, xhat, create_graph=True)
    exact = gp.penalty(critic, real, fake, torch.Generator(device).manual_seed(1))
    with torch.autocast(device, dtype=torch.bfloat16):
        amp_norms = input_gradient_norms(critic, xhat, create_graph=True)
        under_amp = gp.penalty(critic, real, fake, torch.Generator(device).manual_seed(1))
        # the same gradient with the double backward left to autocast: what the float32 island prevents
        x = xhat.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
        naive_norms = grad.float().norm(dim=1)
    assert under_amp.dtype == amp_norms.dtype == torch.float32
    assert under_amp.item() == pytest.approx(exact.item(), rel=rel)
    torch.testing.assert_close(amp_norms, exact_norms, rtol=rel, atol=0)
    assert ((naive_norms - exact_norms).abs() / exact_norms).max() > 1e-3  # bf16 would have moved them


@pytest.mark.slow
def test_a_bf16_run_matches_float32_where_it_should(tmp_path):
    common = ["experiment=toy_wgan_gp", "model.width=128", "steps=20", "log_every=1", "eval.every=10", "eval.n=256"]
    runs = {}
    for amp in ("fp32", "bf16"):
        result = run_cli("train", *common, f"train.amp={amp}", f"hydra.run.dir={tmp_path / amp}")
        assert result.returncode == 0, result.stderr
        runs[amp] = scalars(tmp_path / amp)
    fp32, bf16 = runs["fp32"], runs["bf16"]
    # step 1: the same weights and data; only the bf16 fakes move the interpolates a little
    assert bf16["loss/penalty"][0][1] == pytest.approx(fp32["loss/penalty"][0][1], rel=1e-2)
    assert bf16["loss/critic"][0][1] == pytest.approx(fp32["loss/critic"][0][1], rel=2e-2, abs=1e-3)
    assert all(torch.isfinite(torch.tensor([v for _, v in bf16[tag]])).all() for tag in bf16)
    # evaluation is float32 in both: the exact W1 of two 20-step runs agree closely
    assert bf16["w1/exact"][-1][1] == pytest.approx(fp32["w1/exact"][-1][1], rel=0.1)


@pytest.mark.parametrize("overrides", [
    ["experiment=toy_wgan_gp", "model.width=64", "batch_size=64"],
    ["model=cnn32", "critic=gp", "model.channels=8", "batch_size=8", "data=digits", "data.size=32", "fid.every=0"],
    ["model=resnet32", "critic=lp", "model.d_channels=8", "model.g_channels=8", "batch_size=8", "data=digits",
     "data.size=32", "fid.every=0"],
])
@pytest.mark.slow
def test_penalty_critics_train_to_the_same_bits_with_fewer_flops(overrides, tmp_path, monkeypatch):
    """The penalty strategies swap the critic's (Leaky)ReLUs for PiecewiseLinear: identical
    parameters after training steps, fewer FLOPs per step (no zero second derivative pushed
    back through the forward graph)."""
    from wgan_cli.critic.gp import GradientPenalty, PiecewiseLinear
    from wgan_cli.profiling import count_flops

    cfg = compose_config(*overrides, "eval.every=0", "checkpoint.every=0")
    swapped = Trainer(cfg, tmp_path / "swapped")
    with monkeypatch.context() as m:
        m.setattr(GradientPenalty, "prepare", lambda self, critic: critic)
        plain = Trainer(cfg, tmp_path / "plain")
    assert any(isinstance(mod, PiecewiseLinear) for mod in swapped.nets.D.modules())
    assert not any(isinstance(mod, PiecewiseLinear) for mod in plain.nets.D.modules())
    flops = {name: count_flops(t.train_step) for name, t in (("plain", plain), ("swapped", swapped))}
    assert flops["swapped"] < flops["plain"]
    for _ in range(3):
        plain.train_step()
        swapped.train_step()
    for net in ("D", "G"):
        for a, b in zip(getattr(plain.nets, net).state_dict().values(), getattr(swapped.nets, net).state_dict().values()):
            assert torch.equal(a, b)


def test_the_ema_update_matches_averaged_model_to_the_bit():
    """The trainer's EMA update (no host synchronization per step) against
    ``AveragedModel.update_parameters`` with ``get_ema_multi_avg_fn``, BatchNorm buffers included."""
    from torch import nn
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from wgan_cli.training import update_ema

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    theirs, ours = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True) for _ in range(2))
    for _ in range(5):
        model(torch.randn(16, 4)).square().sum().backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
        theirs.update_parameters(model)
        update_ema(ours, model, 0.9)
    assert int(ours.n_averaged) == 5
    for (name, a), b in zip(theirs.state_dict().items(), ours.state_dict().values()):
        assert torch.equal(a, b), name
    assert not torch.equal(ours.module[0].weight, model[0].weight)  # an average, not a copy


@pytest.mark.filterwarnings(r"ignore:Detected call of `lr_scheduler.step\(\)`")
@pytest.mark.parametrize("name", ["adam", "rmsprop"])
def test_capturable_optimizers_follow_the_schedule_and_save_portably(name):
    """What a CUDA graph's optimizer step relies on (wgan_cli/cuda_graphs.py), on this torch: a scheduler
    fills the device learning-rate tensor in place (a captured step reads that tensor; a new float
    would never reach it), and the saved state holds a float rate, not capturable, which a plain
    optimizer loads and steps with on any device."""
    from omegaconf import OmegaConf

    from wgan_cli.cuda_graphs import lr_on_device, portable
    from wgan_cli.training import make_optimizer, make_scheduler

    cfg = OmegaConf.create({"name": name, "betas": [0.5, 0.9], "decay": "linear"})
    params = [torch.nn.Parameter(torch.ones(3))]
    opt = make_optimizer(cfg, params, 1e-3, torch.device("cpu"))
    sched = make_scheduler(cfg, opt, steps=10)
    lr_on_device(opt)
    lr = opt.param_groups[0]["lr"]
    assert isinstance(lr, torch.Tensor) and opt.param_groups[0]["capturable"]
    for _ in range(4):
        sched.step()
    assert opt.param_groups[0]["lr"] is lr and float(lr) == pytest.approx(1e-3 * 0.6)
    assert sched.get_last_lr()[0] == pytest.approx(1e-3 * 0.6)

    saved = portable(opt.state_dict())
    assert saved["param_groups"][0]["lr"] == pytest.approx(1e-3 * 0.6)
    assert isinstance(saved["param_groups"][0]["lr"], float) and not saved["param_groups"][0]["capturable"]
    assert opt.param_groups[0]["lr"] is lr  # the live optimizer keeps its tensor
    plain = make_optimizer(cfg, [torch.nn.Parameter(torch.ones(3))], 1.0, torch.device("cpu"))
    plain.load_state_dict(saved)
    plain.param_groups[0]["params"][0].grad = torch.ones(3)
    plain.step()
    assert plain.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.6)
    assert not torch.equal(plain.param_groups[0]["params"][0], torch.ones(3))
