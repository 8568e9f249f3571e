"""The probe: a held-out 1-Lipschitz critic that only measures (wgan_cli/training/probe.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from helpers import FAST, compose_config
from torch import nn

from wgan_cli.errors import ConfigError
from wgan_cli.schema.task import TASKS, TaskConfig
from wgan_cli.training import Trainer
from wgan_cli.training.tasks import Task

PROBE = ["probe.every=3", "probe.updates=20", "probe.n=64", "probe.batch=32", "probe.width=16"]
RUN = [*FAST, "steps=6", "eval.every=3", "checkpoint.every=3", "optim.decay=none"]


def weights(t: Trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in (*t.nets.G.parameters(), *t.nets.D.parameters())]


def test_training_is_bitwise_the_same_with_the_probe_on_or_off(make_trainer):
    off = make_trainer(*RUN, run_dir="off")
    off.fit()
    on = make_trainer(*RUN, *PROBE, run_dir="on")
    metrics = on.fit()
    assert all(torch.equal(a, b) for a, b in zip(weights(off), weights(on)))
    assert torch.equal(off.state.rng.get_state(), on.state.rng.get_state())
    assert "w1/probe" in metrics and "w1/probe" not in off.fit()
    assert metrics["lipschitz/probe"] <= 1 + 1e-3  # 1-Lipschitz by construction, after fitting
    assert metrics["w1/probe_se"] > 0


def test_a_resumed_run_with_the_probe_is_bitwise_the_uninterrupted_one(make_trainer):
    straight = make_trainer(*RUN, *PROBE, run_dir="straight")
    straight.fit()
    make_trainer(*[a for a in RUN if a != "steps=6"], "steps=3", *PROBE, run_dir="cut").fit()
    resumed = make_trainer(*RUN, *PROBE, run_dir="cut")
    assert resumed.state.step == 3
    resumed.fit()
    assert all(torch.equal(a, b) for a, b in zip(weights(straight), weights(resumed)))
    for a, b in zip(straight.probe.net.parameters(), resumed.probe.net.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(straight.probe.held_out_rng.get_state(), resumed.probe.held_out_rng.get_state())


class Identity(nn.Identity):
    pass


def test_the_probe_reads_the_length_of_a_shift_between_a_distribution_and_its_translate():
    """W1(P, P + mu) = ||mu||: P is the 8 gaussians, the 'generator' draws P shifted by mu."""
    from wgan_cli.data import DATASETS
    from wgan_cli.training.probe import Probe

    cfg = compose_config("probe.updates=400", "probe.n=2000", "probe.width=64")
    data = DATASETS.build(cfg.data, torch.device("cpu"))
    mu = torch.tensor([0.3, 0.4])  # ||mu|| = 0.5
    probe = Probe(cfg.probe, (2,), torch.device("cpu"), seed=0)
    values = probe.measure(data, Identity(), lambda n, g: data.sample(n, g) + mu)
    assert values["w1/probe"] == pytest.approx(0.5, rel=0.1)
    assert values["w1/probe"] <= 0.5 + 3 * values["w1/probe_se"]  # a lower bound, up to its noise
    assert values["lipschitz/probe"] <= 1 + 1e-3


@pytest.mark.parametrize("override, message", [
    ("probe.updates=-1", "probe.updates=-1: must be an integer >= 1"),
    ("probe.n=1", "probe.n=1: must be an integer >= 2 (a mean and its standard error)"),
    ("probe.every=-5", "probe.every=-5: must be >= 0 (0 = off)"),
    ("probe.width=15", "probe.width=15: must be even (GroupSort2 sorts pairs of units)"),
])
def test_bad_probe_values_are_one_line(override, message):
    from wgan_cli.validation import validate

    with pytest.raises(ConfigError) as caught:
        validate(compose_config(override))
    assert str(caught.value) == message


IMAGES = ["data=digits", "data.size=8", "model.channels=8", "batch_size=16", "eval.n=64", "fid.every=0",
          "steps=4", "eval.every=2", "checkpoint.every=0"]


def test_the_probe_on_images_is_a_1_lipschitz_conv_net_and_leaves_training_bitwise_the_same(make_trainer):
    off = make_trainer(*IMAGES, run_dir="off")
    off.fit()
    on = make_trainer(*IMAGES, "probe.every=2", "probe.updates=10", "probe.width=8", "probe.batch=16", run_dir="on")
    metrics = on.fit()
    assert all(torch.equal(a, b) for a, b in zip(weights(off), weights(on)))
    assert any(isinstance(m, nn.Conv2d) for m in on.probe.net.modules())
    assert metrics["lipschitz/probe"] <= 1 + 1e-3
    assert metrics["w1/probe"] > 0  # the untrained generator's noise is far from the digits


def test_on_a_finite_data_set_the_probe_reads_only_samples_its_fit_never_drew(make_trainer):
    from wgan_cli.training.probe import RealDraws

    t = make_trainer(*IMAGES)
    taken: list[set[int]] = []
    take = t.data.take
    t.data.take = lambda idx: (taken.append(set(idx.tolist())), take(idx))[1]
    draws = RealDraws(t.data, n=2000, seed=0)
    g = torch.Generator().manual_seed(0)
    held = draws.held_out(2000, g)
    assert len(held) == t.data.count() // 4  # min(n, N / 4): 449 of the 1,797 digits
    assert taken.pop() == set(draws.held_idx.tolist())  # the reading takes the held-out part whole
    fitted: set[int] = set()
    for _ in range(20):
        draws.fit(512, g)
        fitted |= taken.pop()
    assert not fitted & set(draws.held_idx.tolist())
    assert len(fitted) > 0.9 * (t.data.count() - len(held))  # the fit draws from all the rest
    assert torch.equal(RealDraws(t.data, 2000, seed=0).held_idx, draws.held_idx)  # the same split at every reading


def test_a_folder_too_small_to_hold_out_a_quarter_trains_without_the_probe_and_says_so(tmp_path, caplog, make_trainer):
    from PIL import Image

    (tmp_path / "images").mkdir()
    for i in range(5):  # a quarter of 5 is one image: no standard error to read
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / "images" / f"{i}.png")
    t = make_trainer("data=image_folder", f"data.path={tmp_path / 'images'}", "data.size=8", "model=mlp",
                               "model.width=32", "batch_size=8", "eval.n=16", "fid.every=0", "steps=2", run_dir="run")
    assert t.cfg.probe.every > 0 and t.probe is None  # on by default for images, off for this folder
    assert "holds 5 samples; the probe reads on a quarter of them" in caplog.text
    metrics = t.fit()
    assert "w1/probe" not in metrics and all(np.isfinite(v) for v in metrics.values())


@dataclass
class ReadsProbeConfig(TaskConfig):
    name: str = "reads_probe"
    every: int = 3


class ReadsProbe(Task):
    """A plugin's metric built on the probe: what it saw of ``w1/probe``, by step."""

    seen: dict[int, float] = {}

    def measure(self, ctx):  # noqa: ANN001, ANN201
        ReadsProbe.seen[ctx.step] = ctx.results["w1/probe"]
        return {"probe/doubled": 2 * ctx.results["w1/probe"]}


def test_a_plugin_task_reads_the_probe_of_its_step(register, make_trainer):
    register(TASKS, "reads_probe", ReadsProbeConfig, ReadsProbe)
    metrics = make_trainer(*RUN, *PROBE, "+tasks.reads_probe.every=3").fit()
    assert sorted(ReadsProbe.seen) == [3, 6]
    assert ReadsProbe.seen[6] == metrics["w1/probe"]
    assert metrics["probe/doubled"] == 2 * metrics["w1/probe"]


def test_the_w1_charts_draw_the_probe_in_the_bracket_and_the_critic_against_it(tmp_path, make_trainer):
    import re

    from helpers import bracket_series, event_accumulator, scalars
    from tensorboard.plugins.custom_scalar import layout_pb2

    make_trainer(*RUN, *PROBE).fit()
    acc = event_accumulator(tmp_path)
    raw = acc.PluginTagToContent("custom_scalars")
    layout = layout_pb2.Layout.FromString(acc.Tensors(next(iter(raw)))[0].tensor_proto.string_val[0])
    bracket, ratio, against_probe = [c for cat in layout.category for c in cat.chart]
    logged = acc.Tags()["scalars"]
    assert {tag for regex in against_probe.multiline.tag for tag in logged if re.search(regex, tag)} == {
        "w1/critic_probe_ratio"}
    assert set(bracket_series(tmp_path)) == {"critic", "probe", "exact", "noise_floor"}  # one sub-run each
    assert all(re.search(regex, "w1/bracket") for regex in bracket.multiline.tag)
    assert bracket.title.startswith("probe <= W1 <= exact W1") and "critic estimate (<= W1 where" in bracket.title
    by_step = {tag: dict(values) for tag, values in scalars(tmp_path).items()}
    for step, value in by_step["w1/critic_probe_ratio"].items():
        assert value == pytest.approx(by_step["w1/critic"][step] / by_step["w1/probe"][step], rel=1e-5)


def test_the_linear_witness_is_the_unit_vector_that_reads_most_between_two_samples():
    from wgan_cli.training.probe import gap, linear_witness

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 16, generator=g) + 0.3, torch.randn(200, 16, generator=g)
    w = linear_witness(x, y)
    assert w.norm().item() == pytest.approx(1, abs=1e-6)  # 1-Lipschitz, no less
    best = gap(lambda v: v @ w, x, y)
    for _ in range(200):  # no other unit vector reads more on the same points
        u = torch.randn(16, generator=g)
        assert gap(lambda v, u=u / u.norm(): v @ u, x, y) <= best + 1e-9
    assert linear_witness(x, x).abs().sum() == 0  # equal means: the zero function, not a division by zero


def shift_pair(points: int, dims: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((points, dims)), rng.standard_normal((points, dims))
    y[:, 0] += 1  # W1 = 1
    return y, x


@pytest.mark.slow
def test_in_64_dimensions_the_cross_fitted_probe_finds_a_shift_with_its_linear_witness():
    """N(e_1, I) against N(0, I) in 64-D, 1000 points a side: a network fitted on a few hundred
    points stops early far below W1 = 1; the linear witness along the means' difference, fitted on
    the other points, reads E <e_1, w> = 1 / sqrt(1 + 2 d / m) = 0.93 of it, and stays below it."""
    from wgan_cli.training.probe import held_out_w1

    r = held_out_w1(*shift_pair(1000, 64, 0), updates=100, folds=3)
    assert r["witnesses"] == ["linear"] * 3
    assert 0.8 < r["value"] < 1 + 3 * r["se"]
    assert r["lipschitz"] == pytest.approx(1, abs=1e-6)


@pytest.mark.slow
def test_on_a_radial_pair_in_32_dimensions_the_probe_keeps_the_spread_witness():
    """N(0, s^2 I) against N(0, I) in 32-D, s = 1 + 1 / E||X||: W1 = (s - 1) E||X|| = 1, read by the
    norm, a curved witness; the means agree, so no linear witness reads anything."""
    import math

    from wgan_cli.training.probe import held_out_w1

    rng = np.random.default_rng(1)
    mean_norm = math.sqrt(2) * math.exp(math.lgamma(33 / 2) - math.lgamma(16))
    r = held_out_w1((1 + 1 / mean_norm) * rng.standard_normal((1000, 32)), rng.standard_normal((1000, 32)),
                    updates=100, folds=3)
    assert r["witnesses"] == ["spread"] * 3
    assert 0.85 < r["value"] < 1 + 3 * r["se"]
    assert r["lipschitz"] <= 1 + 1e-6


@pytest.mark.slow
def test_where_neither_means_nor_spreads_differ_the_probe_keeps_its_network():
    """Two gaussians at +-2 e_1 against two at +-2 e_2 (sd 0.5), 2-D: equal means, equal spreads,
    W1 = 2 sqrt(2) (each point moves to the nearer gaussian of the other pair, read by
    (|x_1| - |x_2|) / sqrt(2)); only the network finds a witness, and it stays below W1."""
    from wgan_cli.training.probe import held_out_w1

    rng = np.random.default_rng(2)
    signs = rng.choice([-2.0, 2.0], size=(2, 1000))
    x, y = 0.5 * rng.standard_normal((2, 1000, 2))
    x[:, 0] += signs[0]
    y[:, 1] += signs[1]
    r = held_out_w1(x, y, updates=300, folds=2)
    assert r["witnesses"] == ["network"] * 2
    assert 0.6 * 2 * 2**0.5 < r["value"] < 2 * 2**0.5 + 3 * r["se"]
    assert r["lipschitz"] <= 1 + 1e-3


def test_inside_training_the_probe_reads_a_shift_in_256_dimensions_after_a_few_updates():
    """The generator P + mu, ||mu|| = 1, in 256-D: 30 updates leave the network far from the shift;
    the linear witness of the same draws, kept on a fresh validation draw, reads it."""
    from wgan_cli.training.probe import Probe

    cfg = compose_config("probe.updates=30", "probe.n=1000").probe
    g = torch.Generator().manual_seed(3)
    mu = torch.randn(256, generator=g)
    mu /= mu.norm()

    class Gaussian:
        def count(self) -> int:
            return 0

        def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
            return torch.randn(n, 256, generator=generator)

    data = Gaussian()
    values = Probe(cfg, (256,), torch.device("cpu"), seed=0).measure(
        data, Identity(), lambda n, generator: data.sample(n, generator) - mu)
    assert 0.85 < values["w1/probe"] <= 1 + 3 * values["w1/probe_se"]
    assert values["lipschitz/probe"] <= 1 + 1e-3
