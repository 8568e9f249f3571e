"""Duality and Lipschitz diagnostics: LP primal/dual against POT, the KR potential, the neural
critic estimate, Lipschitz constants and bounds, critic=lp, the disjoint-supports example."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import ot
import pytest
import torch

from helpers import FAST, ROOT, compose_config, event_accumulator, run_cli, scalars
from wgan_cli.critic import STRATEGIES
from wgan_cli.metrics import w1
from wgan_cli.metrics.lipschitz import empirical_lipschitz, spectral_bound
from wgan_cli.model import MODELS


@pytest.mark.parametrize("n, m, d, seed", [(12, 9, 2, 0), (20, 20, 3, 1), (30, 7, 5, 2)])
def test_lp_primal_equals_dual_equals_emd(n, m, d, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n, d)), rng.standard_normal((m, d)) + 0.5
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    s = w1.lp_w1(x, y, a, b)
    reference = ot.emd2(a / a.sum(), b / b.sum(), ot.dist(x, y, metric="euclidean"))
    assert s.primal == pytest.approx(reference, abs=1e-7) and s.dual == pytest.approx(reference, abs=1e-7)
    cost = ot.dist(x, y, metric="euclidean")
    assert (s.f[:, None] + s.g[None, :] <= cost + 1e-9).all()  # dual feasible
    assert np.allclose(s.plan.sum(1), a / a.sum()) and (s.plan >= -1e-12).all()  # primal feasible
    phi, ratio = w1.kr_potential(x, y, s.f, s.g)
    assert ratio <= 1 + 1e-9  # the c-transformed dual is one 1-Lipschitz function
    assert (a / a.sum()) @ phi[:n] - (b / b.sum()) @ phi[n:] == pytest.approx(reference, abs=1e-7)


def test_lp_on_two_histograms_over_the_same_ten_states():
    rng = np.random.default_rng(3)
    states = np.arange(10.0)[:, None]
    a, b = rng.random(10), rng.random(10)
    s = w1.lp_w1(states, states, a, b)
    cdf_gap = np.abs(np.cumsum(a / a.sum()) - np.cumsum(b / b.sum()))[:-1].sum()  # 1-D W1 in closed form
    assert s.primal == pytest.approx(cdf_gap, abs=1e-7) and s.dual == pytest.approx(cdf_gap, abs=1e-7)
    phi, _ = w1.kr_potential(states, states, s.f, s.g)
    f, g = phi[:10], -phi[10:]
    assert np.allclose(f + g, 0, atol=1e-9)  # on the common support g = -f


def test_sinkhorn_and_sliced_bracket_the_exact_value():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((200, 2)), rng.standard_normal((200, 2)) + [2.0, 0.0]
    exact = w1.exact_w1(x, y)
    assert exact < w1.sinkhorn_w1(x, y, reg=0.01) < exact * 1.05  # entropic bias is upward, small
    assert w1.sliced_w1(x, y, 500) < exact  # projections shrink distances


def save(path: Path, array: np.ndarray) -> str:
    np.save(path, array)
    return str(path)


@pytest.mark.slow
def test_w1_cli_critic_reaches_the_known_distance(tmp_path):
    rng = np.random.default_rng(0)
    a = save(tmp_path / "a.npy", rng.standard_normal((400, 2)))
    b = save(tmp_path / "b.npy", rng.standard_normal((400, 2)) + [2.0, 0.0])  # W1 = 2: a translation
    result = run_cli("w1", a, b, "--method", "exact,critic", "--steps", "500", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["methods"]["critic"]["value"] == pytest.approx(2.0, rel=0.10)
    assert out["methods"]["critic"]["value"] <= out["methods"]["exact"]["value"] + 1e-9  # a lower bound
    assert out["methods"]["exact"]["value"] == pytest.approx(2.0, rel=0.10)


@pytest.mark.slow
def test_w1_cli_all_methods_one_line_each(tmp_path):
    rng = np.random.default_rng(1)
    a = save(tmp_path / "a.npy", rng.standard_normal((40, 2)))
    np.savetxt(tmp_path / "b.csv", rng.standard_normal((30, 2)) + 1, delimiter=",", header="x,y", comments="")
    result = run_cli("w1", a, str(tmp_path / "b.csv"), "--method", "all", "--steps", "50")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [ln.split()[0] for ln in lines[1:]] == ["exact", "lp", "sinkhorn", "sliced", "critic", "probe"]
    exact = float(lines[1].split()[1])
    assert float(lines[2].split()[1]) == pytest.approx(exact, abs=1e-7) and "f = -g" in lines[2]


@pytest.mark.parametrize("make, message", [
    (lambda d: str(d / "missing.npy"), "no such file"),
    (lambda d: save(d / "e.npy", np.zeros((0, 2))), "no samples"),
    (lambda d: save(d / "n.npy", np.array([[0.0, 1.0], [np.nan, 2.0]])), "NaN or Inf values (row 1)"),
    (lambda d: save(d / "t.npy", np.zeros((5, 3))), "A has dimension 2, B has 3"),
    (lambda d: save(d / "c.npy", np.zeros((5, 2), dtype=complex)), "complex values"),
    (lambda d: save(d / "3d.npy", np.zeros((5, 2, 2))), "an array of shape (5, 2, 2); expected [N, d]"),
])
@pytest.mark.slow
def test_w1_cli_bad_input_is_one_line(tmp_path, make, message):
    good = save(tmp_path / "good.npy", np.random.default_rng(0).standard_normal((5, 2)))
    bad = make(tmp_path)
    args = [good, bad] if "dimension" in message else [bad, good]
    result = run_cli("w1", *args)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_w1_cli_lp_refuses_large_inputs(tmp_path):
    rng = np.random.default_rng(0)
    a, b = (save(tmp_path / f"{k}.npy", rng.standard_normal((400, 2))) for k in "ab")
    result = run_cli("w1", a, b, "--method", "lp")
    assert result.returncode == 1 and "use --method exact" in result.stderr


def test_empirical_constant_of_a_linear_critic_is_its_norm():
    w = torch.tensor([[3.0, -4.0]])
    critic = torch.nn.Linear(2, 1, bias=True)
    critic.weight.data, critic.bias.data = w.clone(), torch.tensor([0.7])
    critic.feed_forward = True
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    x = torch.cat([x, x[:1] + torch.tensor([[0.6, -0.8]])])  # one pair along w
    assert empirical_lipschitz(critic, x, x) == pytest.approx(5.0, rel=1e-6)
    assert spectral_bound(critic, x) == pytest.approx(5.0, rel=1e-4)


@pytest.mark.parametrize("model, shape", [("mlp", (2,)), ("cnn32", (3, 16, 16))])
def test_the_sn_product_bound_is_above_the_empirical_constant(model, shape):
    cfg = compose_config(f"model={model}", "critic=sn", "model.noise_dim=8",
                         *(["data=digits", "data.size=16", "model.channels=8"] if model == "cnn32" else []))
    _, critic = MODELS.get(model)(cfg.model, shape)
    critic = STRATEGIES.build(cfg.critic).prepare(critic)
    for _ in range(5):  # let the power iterations converge
        critic(torch.randn(4, *shape))
    critic.eval()
    x = torch.randn(64, *shape, generator=torch.Generator().manual_seed(1))
    emp = empirical_lipschitz(critic, x, x)
    bound = spectral_bound(critic, x)
    assert bound is not None and bound >= emp > 0
    gp = compose_config("model=resnet32", "data=digits", "data.size=16")
    _, resnet = MODELS.get("resnet32")(gp.model, (1, 16, 16))
    assert spectral_bound(resnet, torch.randn(2, 1, 16, 16)) is None  # residual: no product bound


def test_lp_penalizes_only_norms_above_one():
    lp = STRATEGIES.build(compose_config("critic=lp").critic)
    norms = torch.tensor([0.5, 1.0, 1.5])
    assert torch.allclose(lp.excess(norms), torch.tensor([0.0, 0.0, 0.25]))
    gp = STRATEGIES.build(compose_config("critic=gp").critic)
    assert torch.allclose(gp.excess(norms), torch.tensor([0.25, 0.0, 0.25]))


@pytest.mark.slow
def test_training_logs_the_diagnostics(tmp_path):
    result = run_cli("train", "critic=lp", "steps=20", "eval.every=10", "eval.n=200", *FAST[:2], "log_every=5",
                     f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    tags = scalars(tmp_path)
    for tag in ("lipschitz/empirical", "lipschitz/spectral_bound", "lipschitz/grad_norm_interp_frac_above_1",
                "w1/gap", "w1/critic_scaled", "w1/sliced"):
        assert [s for s, _ in tags[tag]] == [10, 20], tag
    for (_, exact), (_, critic), (_, gap), (_, scaled), (_, emp), (_, bound) in zip(
        tags["w1/exact"], tags["w1/critic"], tags["w1/gap"], tags["w1/critic_scaled"],
        tags["lipschitz/empirical"], tags["lipschitz/spectral_bound"],
    ):
        assert gap == pytest.approx(exact - critic, abs=1e-5)
        assert scaled <= exact + 1e-5  # a lower bound on W1 for any critic
        assert bound >= emp
    assert "weights/critic/net.0.weight" in event_accumulator(tmp_path).Tags()["histograms"]


def load_script():  # noqa: ANN201
    path = ROOT / "scripts" / "disjoint_supports.py"
    spec = importlib.util.spec_from_file_location("disjoint_supports", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_disjoint_supports_w1_is_theta_and_only_the_wgan_gradient_survives():
    r = load_script().generator_gradients(0.5, steps=300)
    assert r["w1_exact"] == pytest.approx(0.5, abs=0.01) and r["js"] == pytest.approx(math.log(2))
    assert 0.8 < r["grad_wgan"] < 1.2  # pushes theta toward 0 with unit strength
    assert abs(r["grad_js"]) < 1e-2  # the saturated discriminator gives (almost) nothing


@pytest.mark.slow
def test_disjoint_lines_trains_theta_toward_zero(tmp_path):
    result = run_cli("train", "data=disjoint_lines", "model=shift", "critic=gp", "steps=60", "optim.lr_g=1e-2",
                     "eval.every=0", "eval.n=200", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    theta = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["generator"]["theta"].item()
    assert abs(theta) < 0.9  # from 1.0, descending W1 = |theta|
    (_, exact), = scalars(tmp_path)["w1/exact"]
    assert exact == pytest.approx(abs(theta), abs=0.02)


@pytest.mark.parametrize("overrides, message", [
    (["model.width=0"], "model.width=0: must be >= 1"),
    (["data=digits"], "model=shift: needs 2-D data"),
])
@pytest.mark.slow
def test_shift_model_bad_input_is_one_line(tmp_path, overrides, message):
    result = run_cli("train", "data=disjoint_lines", "model=shift", *overrides, "steps=1", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
