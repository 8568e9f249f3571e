"""Exact resume (training/state.py, resume.py): bitwise after SIGKILL, what a resume may and may not
change, where it resumes from, and checkpoints it cannot use."""

from __future__ import annotations

import json
import logging
import signal
import time

import pytest
import torch

from helpers import STATEFUL_RUN, bracket_series, compose_config, run_cli, scalars, start, tensors, wait_for
from wgan_cli.training import Trainer


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_bitwise_identical(tmp_path):
    steps = ["steps=150", "checkpoint.keep=100"]
    killed = start(tmp_path / "killed", *STATEFUL_RUN, *steps)
    wait_for(tmp_path / "killed" / "checkpoints" / "step_0000030.pt", killed)
    time.sleep(0.15)  # somewhere between two checkpoints
    killed.kill()
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    step_at_kill = torch.load(tmp_path / "killed" / "checkpoints" / "last.pt", weights_only=True)["step"]
    assert 30 <= step_at_kill < 150

    resumed = run_cli("train", *STATEFUL_RUN, *steps, f"hydra.run.dir={tmp_path / 'killed'}")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from {tmp_path / 'killed' / 'checkpoints' / 'last.pt'} at step {step_at_kill}" in (
        tmp_path / "killed" / "train.log").read_text()
    straight = run_cli("train", *STATEFUL_RUN, *steps, f"hydra.run.dir={tmp_path / 'straight'}")
    assert straight.returncode == 0, straight.stderr

    a = torch.load(tmp_path / "killed" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 150
    ta, tb = dict(tensors(a)), dict(tensors(b))
    assert ta.keys() == tb.keys() and len(ta) > 20
    for name in ta:
        assert torch.equal(ta[name], tb[name]), name

    # TensorBoard: the points logged after the last checkpoint and before the kill are purged,
    # so every curve has each step once, with the uninterrupted run's values
    sa, sb = scalars(tmp_path / "killed"), scalars(tmp_path / "straight")
    assert sa.keys() == sb.keys()
    for tag in sb:
        steps_a = [s for s, _ in sa[tag]]
        assert steps_a == sorted(set(steps_a)), tag
        assert sa[tag] == sb[tag], tag
    assert bracket_series(tmp_path / "killed") == bracket_series(tmp_path / "straight")  # the W1 chart's sub-runs too


@pytest.mark.slow
def test_a_finished_run_run_again_trains_nothing(tmp_path):
    first = run_cli("train", *STATEFUL_RUN, "steps=20", f"hydra.run.dir={tmp_path}")
    assert first.returncode == 0, first.stderr
    before = (tmp_path / "checkpoints" / "last.pt").read_bytes()
    again = run_cli("train", *STATEFUL_RUN, "steps=20", f"hydra.run.dir={tmp_path}")
    assert again.returncode == 0, again.stderr
    assert "the run is complete (step 20 of 20)" in (tmp_path / "train.log").read_text()
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == before
    longer = run_cli("train", *STATEFUL_RUN, "steps=30", f"hydra.run.dir={tmp_path}")
    assert longer.returncode == 0 and torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["step"] == 30


@pytest.mark.slow
def test_a_resume_that_changes_the_model_names_the_keys_and_keeps_the_record(tmp_path):
    first = run_cli("train", *STATEFUL_RUN, "steps=10", f"hydra.run.dir={tmp_path}")
    assert first.returncode == 0, first.stderr
    record = (tmp_path / ".hydra" / "overrides.yaml").read_text()
    before = (tmp_path / "checkpoints" / "last.pt").read_bytes()
    changed = run_cli("train", *STATEFUL_RUN, "steps=10", "model.width=64", "model.depth=2", f"hydra.run.dir={tmp_path}")
    assert changed.returncode == 2
    assert changed.stderr.count("\n") == 1
    assert "model.depth 3 -> 2; model.width 32 -> 64" in changed.stderr
    assert (tmp_path / ".hydra" / "overrides.yaml").read_text() == record  # Hydra's rewrite undone
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == before
    other_critic = run_cli("train", *STATEFUL_RUN, "steps=10", "critic=sn", "n_critic=5", f"hydra.run.dir={tmp_path}")
    assert other_critic.returncode == 2 and "critic.name gp -> sn" in other_critic.stderr
    faster = run_cli("train", *STATEFUL_RUN, "steps=12", "optim.lr_d=3e-4", f"hydra.run.dir={tmp_path}")
    assert faster.returncode == 0, faster.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["changed_on_resume"] == ["optim.lr_d 0.0001 -> 0.0003", "steps 10 -> 12"]


def test_a_resume_takes_new_learning_rates_betas_and_steps_and_lists_the_changes(caplog, make_trainer):
    caplog.set_level(logging.INFO)
    base = [*STATEFUL_RUN, "eval.every=0", "optim.lr_d=1e-4", "optim.lr_g=1e-4"]
    make_trainer(*base, "steps=4").fit()
    resumed = make_trainer(*base, "steps=10", "optim.lr_d=5e-4", "optim.lr_g=2e-4", "optim.betas=[0.0,0.99]",
                                     "n_critic=2", "log_every=2")
    assert resumed.state.step == 4
    factor = 1 - 4 / 10  # linear decay, at step 4 of the new 10
    (group_d,), (group_g,) = resumed.nets.opt_d.param_groups, resumed.nets.opt_g.param_groups
    assert float(group_d["lr"]) == pytest.approx(5e-4 * factor) and float(group_g["lr"]) == pytest.approx(2e-4 * factor)
    assert group_d["betas"] == (0.0, 0.99) and resumed.nets.sched_d.base_lrs == [5e-4]
    assert resumed.changed_on_resume == ["log_every 1 -> 2", "n_critic 5 -> 2", "optim.betas [0.5, 0.9] -> [0.0, 0.99]",
                                         "optim.lr_d 0.0001 -> 0.0005", "optim.lr_g 0.0001 -> 0.0002", "steps 4 -> 10"]
    assert "changed on resume: optim.lr_d 0.0001 -> 0.0005" in caplog.text
    resumed.fit()
    assert float(resumed.nets.opt_d.param_groups[0]["lr"]) == pytest.approx(0.0)  # decayed to zero at the new end


@pytest.mark.parametrize("override, key", [("seed=1", "seed 0 -> 1"), ("loss=hinge", "loss.name wasserstein -> hinge"),
                                           ("data.std=0.1", "data.std 0.02 -> 0.1")])
def test_a_resume_refuses_keys_that_define_the_experiment(override, key, make_trainer):
    from wgan_cli.errors import ConfigError

    make_trainer(*STATEFUL_RUN, "eval.every=0", "steps=2").fit()
    with pytest.raises(ConfigError, match=f"cannot change within a run \\({key}\\)"):
        make_trainer(*STATEFUL_RUN, "eval.every=0", "steps=4", override)


@pytest.mark.slow
def test_resume_never_refuses_a_run_dir_that_holds_a_run(tmp_path):
    assert run_cli("train", *STATEFUL_RUN, "steps=5", f"hydra.run.dir={tmp_path}").returncode == 0
    before = (tmp_path / "checkpoints" / "last.pt").read_bytes()
    refused = run_cli("train", *STATEFUL_RUN, "steps=5", "resume=never", "seed=3", f"hydra.run.dir={tmp_path}")
    assert refused.returncode == 2 and "resume=never" in refused.stderr and refused.stderr.count("\n") == 1
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == before
    assert "seed=3" not in (tmp_path / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.slow
def test_resume_from_a_path_continues_into_a_new_run_dir(tmp_path):
    assert run_cli("train", *STATEFUL_RUN, "steps=10", f"hydra.run.dir={tmp_path / 'a'}").returncode == 0
    result = run_cli("train", *STATEFUL_RUN, "steps=15", f"resume={tmp_path / 'a'}", f"hydra.run.dir={tmp_path / 'b'}")
    assert result.returncode == 0, result.stderr
    assert torch.load(tmp_path / "b" / "checkpoints" / "last.pt", weights_only=True)["step"] == 15
    assert [s for s, _ in scalars(tmp_path / "b")["loss/critic"]] == list(range(11, 16))


def test_a_checkpoint_moves_between_cpu_and_cuda_with_the_random_stream_reseeded(tmp_path, caplog, make_trainer):
    """A CUDA generator saves 16 bytes (Philox seed and offset), a CPU one 5056 (Mersenne Twister):
    resuming across that change reseeds the training stream from the saved state, the same way every
    time. The CUDA checkpoint is written here in its real format (this machine has no GPU;
    tests/test_cuda_graphs.py resumes a real one on the CPU)."""
    caplog.set_level(logging.INFO)
    cfg = compose_config(*STATEFUL_RUN, "steps=10", "eval.every=0")
    Trainer(cfg, tmp_path / "gpu").fit()
    state = torch.load(tmp_path / "gpu" / "checkpoints" / "last.pt", weights_only=True)
    state["rng"] = torch.tensor([7, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0], dtype=torch.uint8)
    state["config"]["device"]["name"], state["rng_global"]["cuda"] = "cuda", [state["rng"]]
    torch.save(state, tmp_path / "from_cuda.pt")
    finals = []
    for attempt in ("a", "b"):
        resumed = make_trainer(*STATEFUL_RUN, "steps=15", "eval.every=0", f"resume={tmp_path / 'from_cuda.pt'}", run_dir=attempt)
        assert resumed.state.step == 10 and resumed.state.rng.get_state().numel() == 5056
        resumed.fit()
        finals.append(torch.load(tmp_path / attempt / "checkpoints" / "last.pt", weights_only=True))
    assert "reseeded for cpu" in caplog.text
    assert finals[0]["step"] == 15 and torch.equal(finals[0]["rng"], finals[1]["rng"])
    for key, value in finals[0]["generator"].items():
        assert torch.equal(value, finals[1]["generator"][key]), key
    straight = make_trainer(*STATEFUL_RUN, "steps=15", "eval.every=0", f"resume={tmp_path / 'gpu'}", run_dir="c")
    straight.fit()
    assert not torch.equal(straight.state.rng.get_state(), finals[0]["rng"])  # another stream than the unchanged one


@pytest.mark.slow
def test_a_checkpoint_whose_tensors_do_not_load_names_the_cause(tmp_path):
    assert run_cli("train", *STATEFUL_RUN, "steps=5", f"hydra.run.dir={tmp_path / 'a'}").returncode == 0
    state = torch.load(tmp_path / "a" / "checkpoints" / "last.pt", weights_only=True)
    name = next(iter(state["generator"]))
    del state["generator"][name]
    torch.save(state, tmp_path / "edited.pt")
    result = run_cli("train", *STATEFUL_RUN, "steps=8", f"resume={tmp_path / 'edited.pt'}", f"hydra.run.dir={tmp_path / 'b'}")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "does not fit this config (steps 5 -> 8)" in result.stderr
    assert result.stderr.count(f'Missing key(s) in state_dict: "{name}"') == 1


@pytest.mark.parametrize("content, message", [(None, "no such checkpoint"), (b"", "empty file"),
                                              (b"garbage" * 10, "not a readable checkpoint")])
@pytest.mark.slow
def test_a_missing_or_corrupt_resume_path_is_one_line(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    if content is not None:
        path.write_bytes(content)
    result = run_cli("train", "steps=2", f"resume={path}", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode != 0 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_last_pt_that_is_not_a_file_is_refused_not_taken_for_a_fresh_start(tmp_path, make_trainer):
    from wgan_cli.errors import UserError

    (tmp_path / "checkpoints" / "last.pt").mkdir(parents=True)
    with pytest.raises(UserError) as caught:
        make_trainer("model.width=16", "eval.n=64")
    assert str(caught.value) == (f"{tmp_path / 'checkpoints' / 'last.pt'} exists but is not a file; move it away "
                                 "to start the run over, or choose another hydra.run.dir")
    assert (tmp_path / "checkpoints" / "last.pt").is_dir()
