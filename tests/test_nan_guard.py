"""NaN and Inf losses (nan_guard.py, train.on_nan): stop naming the step and term, or skip the update."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import STATEFUL_RUN, compose_config, run_cli, scalars, tensors
from wgan_cli.training import Diverged, Trainer


def test_a_nan_stops_naming_the_step_and_term_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = compose_config(*STATEFUL_RUN, "steps=10", "checkpoint.every=1", "eval.every=0")
    trainer = Trainer(cfg, tmp_path)
    critic_loss, calls = trainer.loss.critic, []

    def poisoned(f_real, f_fake):  # noqa: ANN001, ANN202 - the 4th generator step's 2nd critic step
        calls.append(1)
        value = critic_loss(f_real, f_fake)
        return value * float("nan") if len(calls) == 3 * 5 + 2 else value

    trainer.loss.critic = poisoned
    with pytest.raises(Diverged, match=r"step 4: loss/critic=nan; stopped .* last good checkpoint is kept"):
        trainer.fit()
    last = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert last["step"] == 3
    assert all(torch.isfinite(t).all() for _, t in tensors(last["generator"]))


def poison_generator_loss(trainer: Trainer, at_call: int, factor: float) -> list[int]:
    """Multiply the generator loss by ``factor`` at its ``at_call``-th evaluation (one per step);
    returns the list that counts the calls."""
    generator_loss, calls = trainer.loss.generator, []

    def poisoned(f_fake):  # noqa: ANN001, ANN202
        calls.append(1)
        return generator_loss(f_fake) * (factor if len(calls) == at_call else 1.0)

    trainer.loss.generator = poisoned
    return calls


def test_a_nan_is_found_at_the_next_log_step_and_named_where_it_began(tmp_path):
    """Under on_nan=stop the losses are checked when the host looks anyway (no synchronization
    per update): a NaN at step 2 stops the run at log step 5, naming step 2, before any save."""
    cfg = compose_config(*STATEFUL_RUN, "steps=10", "log_every=5", "checkpoint.every=0", "eval.every=0")
    trainer = Trainer(cfg, tmp_path)
    calls = poison_generator_loss(trainer, at_call=2, factor=float("nan"))
    with pytest.raises(Diverged, match=r"^step 2: loss/generator=nan; .* no checkpoint was written yet"):
        trainer.fit()
    assert len(calls) == 5 and not (tmp_path / "checkpoints").exists()  # found at log step 5
    assert trainer.state.step == 1  # the last good step, which the run's summary reports


def test_on_nan_skip_drops_the_update_and_goes_on(tmp_path):
    cfg = compose_config(*STATEFUL_RUN, "steps=6", "train.on_nan=skip", "eval.every=0")
    trainer = Trainer(cfg, tmp_path)
    poison_generator_loss(trainer, at_call=2, factor=float("inf"))
    trainer.fit()
    assert trainer.state.skipped == 1 and trainer.state.step == 6
    assert all(torch.isfinite(p).all() for p in trainer.nets.G.parameters())
    assert scalars(tmp_path)["train/skipped_updates"][-1] == (6, 1.0)


@pytest.mark.slow
def test_a_nan_through_the_cli_is_one_line(tmp_path):
    result = run_cli("train", "critic=gp", "optim.lr_d=1e9", "steps=50", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "step 1: loss/critic=nan" in result.stderr and "no checkpoint was written yet" in result.stderr


def test_the_loss_watch_names_the_first_bad_update_and_empties_itself():
    from wgan_cli.nan_guard import LossWatch

    watch = LossWatch(torch.device("cpu"), capacity=6)
    nan, one = torch.tensor(float("nan")), torch.tensor(1.0)
    watch.add(1, {"loss/critic": one, "loss/penalty": None})
    watch.add(2, {"loss/critic": one, "loss/penalty": torch.tensor(float("inf"))})
    watch.add(2, {"loss/critic": nan, "loss/penalty": nan})  # a later update of the same step
    assert watch.room() == 1
    assert watch.first_bad() == (2, {"loss/penalty": float("inf")})
    assert watch.room() == 6 and watch.first_bad() is None
    watch.add(3, {"loss/generator": one})
    assert watch.first_bad() is None


@pytest.mark.slow
def test_a_run_whose_final_evaluation_is_not_finite_is_marked_diverged(tmp_path):
    """theta = 1e39 overflows float32: every update is skipped (train.on_nan=skip), the run reaches its
    last step, and its generator is infinitely far from the data."""
    result = run_cli("train", "model=shift", "data=disjoint_lines", "model.theta=1e39", "train.on_nan=skip", "steps=3",
                     "eval.every=0", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "the run diverged: the final evaluation is not finite: " in result.stderr and "w1/exact=inf" in result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "diverged" and "w1/exact=inf" in summary["reason"]
    assert (tmp_path / "checkpoints" / "last.pt").is_file()
