"""The trainer's own features: EMA generator, learning-rate decay, state round trip."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from wgan_cli.errors import ConfigError
from wgan_cli.schema.task import TaskConfig
from wgan_cli.training import Trainer
from wgan_cli.training.tasks import TASKS, Task

from helpers import FAST, compose_config, scalars


def flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in module.parameters()])


def test_ema_generator_averages_from_start_and_is_the_sampler(tmp_path):
    cfg = compose_config("critic=gp", "ema.decay=0.5", "ema.start=2", "steps=5", *FAST)
    trainer = Trainer(cfg, tmp_path)
    expected = None
    for step in range(5):
        assert (trainer.sampler is trainer.nets.G) == (step <= 2)
        trainer.train_step()
        assert trainer.state.step == step + 1  # the step counts itself
        if step == 2:
            expected = flat(trainer.nets.G)  # the first update copies
        elif step > 2:
            expected = 0.5 * expected + 0.5 * flat(trainer.nets.G)
    assert trainer.sampler is trainer.nets.ema.module
    assert torch.allclose(flat(trainer.nets.ema.module), expected, atol=1e-6)
    assert not torch.allclose(flat(trainer.nets.ema.module), flat(trainer.nets.G))


def test_linear_decay_reaches_zero_at_the_last_step(tmp_path):
    cfg = compose_config("critic=gp", "optim.decay=linear", "optim.lr_g=1e-3", "steps=4", *FAST)
    trainer = Trainer(cfg, tmp_path)
    lrs = []
    for _ in range(4):
        lrs.append(trainer.nets.opt_g.param_groups[0]["lr"])
        trainer.train_step()
    assert lrs == pytest.approx([1e-3, 0.75e-3, 0.5e-3, 0.25e-3])
    assert trainer.nets.opt_g.param_groups[0]["lr"] == 0 and trainer.nets.opt_d.param_groups[0]["lr"] == 0


def test_state_dict_round_trip_through_a_file_continues_identically(tmp_path):
    cfg = compose_config("critic=gp", "ema.decay=0.9", "steps=6", *FAST)
    a = Trainer(cfg, tmp_path)
    for _ in range(3):
        a.train_step()
    torch.save(a.state_dict(), tmp_path / "state.pt")  # a file, as a resume reads it (no shared tensors)
    b = Trainer(cfg, tmp_path)
    b.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=False))
    for t in (a, b):
        t.train_step()
    for name in ("G", "D"):
        assert torch.equal(flat(getattr(a.nets, name)), flat(getattr(b.nets, name))), name
    assert torch.equal(flat(a.nets.ema.module), flat(b.nets.ema.module))


@pytest.mark.parametrize("model, batches", [("mlp", [5 * 8, 8]), ("cnn32", [8] * 5 + [8])])
def test_the_critic_steps_fakes_come_from_one_forward_unless_batch_norm_would_span_them(model, batches, tmp_path):
    """The generator is fixed during the n_critic critic steps, so one forward makes all their fakes;
    a generator with BatchNorm makes them one batch at a time, so that its statistics are each
    batch's, as in the papers' code (and its running averages take n_critic + 1 updates a step)."""
    extra = ["model.width=16"] if model == "mlp" else ["model.channels=4"]
    cfg = compose_config("data=digits", "fid.every=0", f"model={model}", *extra, "critic=gp", "n_critic=5", "batch_size=8",
                         "eval.every=0")
    trainer = Trainer(cfg, tmp_path)
    seen: list[int] = []
    trainer.nets.G.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[0]))
    trainer.train_step()
    assert seen == batches
    if model == "cnn32":
        assert int(trainer.nets.G.net[0].num_batches_tracked) == 6


# -- periodic tasks from other packages (tasks.<name>) ---------------------------------------------


@dataclass
class MeanFakeConfig(TaskConfig):
    name: str = "mean_fake"
    every: int = 2
    n: int = 16


class MeanFake(Task):
    """A metric as a plugin writes one: the mean of n generated points, on its own stream."""

    runs: list[int] = []
    seen: dict[int, dict] = {}  # step -> what the task saw of the run's results

    def measure(self, ctx):  # noqa: ANN001, ANN201
        real, fake = ctx.draw(self.cfg.n)
        assert real.shape == fake.shape == (self.cfg.n, 2)
        MeanFake.runs.append(ctx.step)
        MeanFake.seen[ctx.step] = dict(ctx.results)
        return {"fake/mean": fake.mean().item()}


@pytest.fixture
def mean_fake(register):
    """The task above, registered for one test."""
    MeanFake.runs.clear()
    MeanFake.seen.clear()
    return register(TASKS, "mean_fake", MeanFakeConfig, MeanFake)


def test_a_registered_task_runs_at_its_cadence_and_leaves_training_as_it_was(mean_fake, tmp_path, make_trainer):
    run = [*FAST, "steps=5", "eval.every=0", "checkpoint.every=0"]
    plain = make_trainer(*run, run_dir="plain")
    plain.fit()
    MeanFake.runs.clear()
    with_task = make_trainer(*run, "+tasks.mean_fake.n=8", run_dir="task")
    metrics = with_task.fit()
    assert MeanFake.runs == [2, 4, 5]  # every 2 (its schema's default) and at the last step
    assert metrics["fake/mean"] == pytest.approx(scalars(tmp_path / "task")["fake/mean"][-1][1], rel=1e-6)
    assert [step for step, _ in scalars(tmp_path / "task")["fake/mean"]] == [2, 4, 5]
    assert "w1/exact" not in MeanFake.seen[2] and "w1/exact" in MeanFake.seen[5]  # the evaluation ran at 5 only
    for a, b in zip([*plain.nets.G.parameters(), *plain.nets.D.parameters()], [*with_task.nets.G.parameters(), *with_task.nets.D.parameters()]):
        assert torch.equal(a, b)  # its own random stream, no gradients: training is untouched


def test_a_task_sees_only_the_documented_context_and_its_stream_depends_on_the_step_alone():
    import dataclasses

    from wgan_cli.training.tasks import TaskContext, task_seed

    assert [f.name for f in dataclasses.fields(TaskContext)] == [
        "step", "device", "sampler", "critic", "data", "noise", "rng", "losses", "results"]
    assert task_seed(0, "mean_fake", 4) == task_seed(0, "mean_fake", 4)
    assert len({task_seed(0, "mean_fake", 4), task_seed(1, "mean_fake", 4), task_seed(0, "energy", 4),
                task_seed(0, "mean_fake", 5)}) == 4


def test_a_removed_task_is_gone_from_the_registry_and_the_config_store(register, make_trainer):
    register(TASKS, "taken_back", MeanFakeConfig, MeanFake)
    assert compose_config("+tasks.taken_back.every=3").tasks.taken_back.every == 3
    TASKS.remove("taken_back")
    assert "taken_back" not in TASKS.names()
    with pytest.raises(ConfigError, match=r"^tasks.taken_back: no such task"):
        make_trainer(*FAST, "+tasks.taken_back.every=3")


@pytest.mark.parametrize("override, message", [
    ("+tasks.mean_fak.every=2", "tasks.mean_fak: no such task; did you mean mean_fake?"),
    ("+tasks.mean_fake.evry=2", "tasks.mean_fake.evry: no such key; did you mean tasks.mean_fake.every?"),
    ("+tasks.mean_fake.every=-1", "tasks.mean_fake.every=-1: must be >= 0"),
    ("+tasks.mean_fake=3", "tasks.mean_fake=3: give the task's keys"),
])
def test_a_bad_task_is_one_line(override, message, mean_fake, make_trainer):
    with pytest.raises(ConfigError) as caught:
        make_trainer(*FAST, override)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_the_noise_floor_is_the_mean_over_eight_pairs_of_real_draws_on_its_own_stream(make_trainer):
    import statistics

    from wgan_cli.metrics.w1 import exact_w1
    from wgan_cli.training.evaluation import FLOOR_DRAWS, FLOOR_STREAM

    t = make_trainer("eval.n=200", "seed=3")
    g = torch.Generator().manual_seed(3 * 1_000_003 + FLOOR_STREAM)
    draws = [exact_w1(t.data.sample(200, g), t.data.sample(200, g)) for _ in range(FLOOR_DRAWS)]
    assert t.evaluator.noise_floor() == (pytest.approx(statistics.fmean(draws)), pytest.approx(statistics.stdev(draws)))
    before = t.state.rng.get_state()
    assert t.evaluate()["w1/noise_floor"] == t.evaluate()["w1/noise_floor"] == t.evaluator.noise_floor()[0]
    assert torch.equal(t.state.rng.get_state(), before)  # training's stream untouched
