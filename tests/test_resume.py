"""Checkpoints, exact resume, signals, NaN handling and failures that never cost data."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import CLI, FAST, bracket_series, compose_config, run_cli, scalars, wait_until_logged
from wgan_cli import checkpoint
from wgan_cli.interrupts import ONE_DELIVERY_S, StopRequests
from wgan_cli.training import Diverged, Trainer

# GP (randomness in the penalty), EMA, linear decay: every piece of state a resume must restore
RUN = ["critic=gp", "ema.decay=0.9", "optim.decay=linear", "model.width=32", "batch_size=32",
       "eval.every=25", "eval.n=64", "log_every=1", "checkpoint.every=10"]


def tensors(state, prefix: str = ""):  # noqa: ANN001, ANN201
    """Every tensor in a (nested) checkpoint, by path."""
    if isinstance(state, torch.Tensor):
        yield prefix, state
    elif isinstance(state, dict):
        for k, v in state.items():
            yield from tensors(v, f"{prefix}/{k}")
    elif isinstance(state, (list, tuple)):
        for i, v in enumerate(state):
            yield from tensors(v, f"{prefix}/{i}")


def start(run_dir: Path, *overrides: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.Popen([CLI, "train", *overrides, f"hydra.run.dir={run_dir}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_bitwise_identical(tmp_path):
    steps = ["steps=150", "checkpoint.keep=100"]
    killed = start(tmp_path / "killed", *RUN, *steps)
    wait_for(tmp_path / "killed" / "checkpoints" / "step_0000030.pt", killed)
    time.sleep(0.15)  # somewhere between two checkpoints
    killed.kill()
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    step_at_kill = torch.load(tmp_path / "killed" / "checkpoints" / "last.pt", weights_only=True)["step"]
    assert 30 <= step_at_kill < 150

    resumed = run_cli("train", *RUN, *steps, f"hydra.run.dir={tmp_path / 'killed'}")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from {tmp_path / 'killed' / 'checkpoints' / 'last.pt'} at step {step_at_kill}" in (
        tmp_path / "killed" / "train.log").read_text()
    straight = run_cli("train", *RUN, *steps, f"hydra.run.dir={tmp_path / 'straight'}")
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
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR2])
def test_a_signal_saves_last_pt_and_exits_with_its_code(tmp_path, sig):
    run_dir = tmp_path / "run"
    process = start(run_dir, *RUN, "steps=100000", "checkpoint.every=0", "eval.every=0")
    wait_until_logged(run_dir, process, step=2)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + sig
    name = signal.Signals(sig).name
    last_line = stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"wgan-cli: error: {name} at step ") and "run the same command again" in last_line
    step = int(last_line.split(" at step ")[1].split(":")[0])
    saved = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert saved["step"] == step > 0
    assert max(s for s, _ in scalars(run_dir)["loss/critic"]) == step  # the writer was flushed and closed


def test_a_second_signal_exits_at_once(monkeypatch):
    exits = []
    monkeypatch.setattr(os, "_exit", lambda code: exits.append(code))
    before = signal.getsignal(signal.SIGINT)  # Python's default handler, or SIG_IGN in a shell's background job
    with StopRequests() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.signum == signal.SIGINT and exits == []
        os.kill(os.getpid(), signal.SIGINT)  # at once: one signal delivered twice (to the group, and forwarded)
        assert exits == []
        stop.since -= ONE_DELIVERY_S  # a second request, later
        os.kill(os.getpid(), signal.SIGINT)
        assert exits == [130]
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored


def test_checkpoints_every_n_steps_and_keep_the_last_k(tmp_path):
    cfg = compose_config(*RUN, "steps=35", "checkpoint.every=10", "checkpoint.keep=2", "eval.every=0")
    Trainer(cfg, tmp_path).fit()
    folder = tmp_path / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt", "step_0000030.pt", "step_0000035.pt"]
    last, kept = (torch.load(folder / n, weights_only=True) for n in ("last.pt", "step_0000030.pt"))
    assert last["step"] == 35 and kept["step"] == 30
    assert last["rng_global"]["numpy"][0] == "MT19937" and "python" in last["rng_global"]


@pytest.mark.slow
def test_a_finished_run_run_again_trains_nothing(tmp_path):
    first = run_cli("train", *RUN, "steps=20", f"hydra.run.dir={tmp_path}")
    assert first.returncode == 0, first.stderr
    before = (tmp_path / "checkpoints" / "last.pt").read_bytes()
    again = run_cli("train", *RUN, "steps=20", f"hydra.run.dir={tmp_path}")
    assert again.returncode == 0, again.stderr
    assert "the run is complete (step 20 of 20)" in (tmp_path / "train.log").read_text()
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == before
    longer = run_cli("train", *RUN, "steps=30", f"hydra.run.dir={tmp_path}")
    assert longer.returncode == 0 and torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["step"] == 30


@pytest.mark.slow
def test_a_resume_that_changes_the_model_names_the_keys_and_keeps_the_record(tmp_path):
    first = run_cli("train", *RUN, "steps=10", f"hydra.run.dir={tmp_path}")
    assert first.returncode == 0, first.stderr
    record = (tmp_path / ".hydra" / "overrides.yaml").read_text()
    before = (tmp_path / "checkpoints" / "last.pt").read_bytes()
    changed = run_cli("train", *RUN, "steps=10", "model.width=64", "model.depth=2", f"hydra.run.dir={tmp_path}")
    assert changed.returncode == 2
    assert changed.stderr.count("\n") == 1
    assert "model.depth 3 -> 2; model.width 32 -> 64" in changed.stderr
    assert (tmp_path / ".hydra" / "overrides.yaml").read_text() == record  # Hydra's rewrite undone
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == before
    other_critic = run_cli("train", *RUN, "steps=10", "critic=sn", "n_critic=5", f"hydra.run.dir={tmp_path}")
    assert other_critic.returncode == 2 and "critic.name gp -> sn" in other_critic.stderr
    faster = run_cli("train", *RUN, "steps=12", "optim.lr_d=3e-4", f"hydra.run.dir={tmp_path}")
    assert faster.returncode == 0, faster.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["changed_on_resume"] == ["optim.lr_d 0.0001 -> 0.0003", "steps 10 -> 12"]


def test_a_resume_takes_new_learning_rates_betas_and_steps_and_lists_the_changes(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    base = [*RUN, "eval.every=0", "optim.lr_d=1e-4", "optim.lr_g=1e-4"]
    Trainer(compose_config(*base, "steps=4"), tmp_path).fit()
    resumed = Trainer(compose_config(*base, "steps=10", "optim.lr_d=5e-4", "optim.lr_g=2e-4", "optim.betas=[0.0,0.99]",
                                     "n_critic=2", "log_every=2"), tmp_path)
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
def test_a_resume_refuses_keys_that_define_the_experiment(tmp_path, override, key):
    from wgan_cli.errors import ConfigError

    Trainer(compose_config(*RUN, "eval.every=0", "steps=2"), tmp_path).fit()
    with pytest.raises(ConfigError, match=f"cannot change within a run \\({key}\\)"):
        Trainer(compose_config(*RUN, "eval.every=0", "steps=4", override), tmp_path)


@pytest.mark.slow
def test_resume_never_refuses_a_run_dir_that_holds_a_run(tmp_path):
    assert run_cli("train", *RUN, "steps=5", f"hydra.run.dir={tmp_path}").returncode == 0
    before = (tmp_path / "checkpoints" / "last.pt").read_bytes()
    refused = run_cli("train", *RUN, "steps=5", "resume=never", "seed=3", f"hydra.run.dir={tmp_path}")
    assert refused.returncode == 2 and "resume=never" in refused.stderr and refused.stderr.count("\n") == 1
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == before
    assert "seed=3" not in (tmp_path / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.slow
def test_resume_from_a_path_continues_into_a_new_run_dir(tmp_path):
    assert run_cli("train", *RUN, "steps=10", f"hydra.run.dir={tmp_path / 'a'}").returncode == 0
    result = run_cli("train", *RUN, "steps=15", f"resume={tmp_path / 'a'}", f"hydra.run.dir={tmp_path / 'b'}")
    assert result.returncode == 0, result.stderr
    assert torch.load(tmp_path / "b" / "checkpoints" / "last.pt", weights_only=True)["step"] == 15
    assert [s for s, _ in scalars(tmp_path / "b")["loss/critic"]] == list(range(11, 16))


def test_a_checkpoint_moves_between_cpu_and_cuda_with_the_random_stream_reseeded(tmp_path, caplog):
    """A CUDA generator saves 16 bytes (Philox seed and offset), a CPU one 5056 (Mersenne Twister):
    resuming across that change reseeds the training stream from the saved state, the same way every
    time. The CUDA checkpoint is written here in its real format (this machine has no GPU;
    tests/test_cuda.py resumes a real one on the CPU)."""
    caplog.set_level(logging.INFO)
    cfg = compose_config(*RUN, "steps=10", "eval.every=0")
    Trainer(cfg, tmp_path / "gpu").fit()
    state = torch.load(tmp_path / "gpu" / "checkpoints" / "last.pt", weights_only=True)
    state["rng"] = torch.tensor([7, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0], dtype=torch.uint8)
    state["config"]["device"]["name"], state["rng_global"]["cuda"] = "cuda", [state["rng"]]
    torch.save(state, tmp_path / "from_cuda.pt")
    finals = []
    for attempt in ("a", "b"):
        resumed = Trainer(compose_config(*RUN, "steps=15", "eval.every=0", f"resume={tmp_path / 'from_cuda.pt'}"),
                          tmp_path / attempt)
        assert resumed.state.step == 10 and resumed.state.rng.get_state().numel() == 5056
        resumed.fit()
        finals.append(torch.load(tmp_path / attempt / "checkpoints" / "last.pt", weights_only=True))
    assert "reseeded for cpu" in caplog.text
    assert finals[0]["step"] == 15 and torch.equal(finals[0]["rng"], finals[1]["rng"])
    for key, value in finals[0]["generator"].items():
        assert torch.equal(value, finals[1]["generator"][key]), key
    straight = Trainer(compose_config(*RUN, "steps=15", "eval.every=0", f"resume={tmp_path / 'gpu'}"), tmp_path / "c")
    straight.fit()
    assert not torch.equal(straight.state.rng.get_state(), finals[0]["rng"])  # another stream than the unchanged one


@pytest.mark.slow
def test_a_checkpoint_whose_tensors_do_not_load_names_the_cause(tmp_path):
    assert run_cli("train", *RUN, "steps=5", f"hydra.run.dir={tmp_path / 'a'}").returncode == 0
    state = torch.load(tmp_path / "a" / "checkpoints" / "last.pt", weights_only=True)
    name = next(iter(state["generator"]))
    del state["generator"][name]
    torch.save(state, tmp_path / "edited.pt")
    result = run_cli("train", *RUN, "steps=8", f"resume={tmp_path / 'edited.pt'}", f"hydra.run.dir={tmp_path / 'b'}")
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


def test_a_nan_stops_naming_the_step_and_term_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = compose_config(*RUN, "steps=10", "checkpoint.every=1", "eval.every=0")
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
    cfg = compose_config(*RUN, "steps=10", "log_every=5", "checkpoint.every=0", "eval.every=0")
    trainer = Trainer(cfg, tmp_path)
    calls = poison_generator_loss(trainer, at_call=2, factor=float("nan"))
    with pytest.raises(Diverged, match=r"^step 2: loss/generator=nan; .* no checkpoint was written yet"):
        trainer.fit()
    assert len(calls) == 5 and not (tmp_path / "checkpoints").exists()  # found at log step 5
    assert trainer.state.step == 1  # the last good step, which the run's summary reports


def test_on_nan_skip_drops_the_update_and_goes_on(tmp_path):
    cfg = compose_config(*RUN, "steps=6", "train.on_nan=skip", "eval.every=0")
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


def test_a_failed_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """Where no small file system can be mounted, the failing write is simulated at fsync (the real
    full disk: test_a_full_disk_is_one_line_and_keeps_the_last_checkpoint)."""
    path = tmp_path / "last.pt"
    checkpoint.save_atomic({"step": 1}, path)
    before = path.read_bytes()

    def disk_full(fd):  # noqa: ANN001, ANN202
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint.os, "fsync", disk_full)
    with pytest.raises(checkpoint.CheckpointError, match=f"^no space left on device writing {path}; the previous one is intact$"):
        checkpoint.save_atomic({"step": 2}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary file left behind


def test_an_output_dir_that_cannot_be_created_is_one_line(tmp_path):
    (tmp_path / "a_file").write_text("")
    result = run_cli("train", "steps=2", f"hydra.run.dir={tmp_path / 'a_file' / 'run'}")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "Not a directory" in result.stderr and str(tmp_path / "a_file") in result.stderr


@pytest.mark.slow
def test_the_same_seed_gives_identical_events_and_weights(tmp_path):
    runs = [tmp_path / "a", tmp_path / "b"]
    for run in runs:
        assert run_cli("train", *RUN, "steps=20", "seed=7", f"hydra.run.dir={run}").returncode == 0
    assert scalars(runs[0]) == scalars(runs[1])
    a, b = (torch.load(r / "checkpoints" / "last.pt", weights_only=True) for r in runs)
    for (name, x), (_, y) in zip(tensors(a["generator"]), tensors(b["generator"])):
        assert torch.equal(x, y), name
    other = tmp_path / "c"
    assert run_cli("train", *RUN, "steps=20", "seed=8", f"hydra.run.dir={other}").returncode == 0
    assert scalars(other)["loss/critic"] != scalars(runs[0])["loss/critic"]


# -- wgan-cli sample -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def image_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("digits")
    result = run_cli("train", "experiment=digits", "steps=3", "eval.n=32", "ema.decay=0.5", f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr
    return run


@pytest.mark.slow
def test_sample_writes_a_grid_an_array_and_a_folder_from_the_ema_generator(image_run, tmp_path):
    from PIL import Image

    from wgan_cli.checkpoint import generator_from_checkpoint, load_checkpoint

    grid = run_cli("sample", str(image_run), "--num-samples", "16", "--out", str(tmp_path / "grid.png"))
    assert grid.returncode == 0 and "EMA generator, step 3" in grid.stdout, grid.stderr
    side = 4 * 16 + 5 * 2  # 4 x 4 images of 16 px, padding 2: 74 px, upscaled 7x to at least 512
    assert Image.open(tmp_path / "grid.png").size == (7 * side, 7 * side)
    pixels = np.asarray(Image.open(tmp_path / "grid.png").convert("L")).astype(int)
    assert (pixels[::7, ::7].repeat(7, 0).repeat(7, 1) == pixels).all()  # nearest neighbour: sharp squares
    assert run_cli("sample", str(image_run), "--num-samples", "5", "--out", str(tmp_path / "s.npy")).returncode == 0
    array = np.load(tmp_path / "s.npy")
    assert array.shape == (5, 1, 16, 16) and array.dtype == np.uint8
    state = load_checkpoint(image_run)
    generator, noise_dim = generator_from_checkpoint(state)
    ema = {k[len("module."):]: v for k, v in state["ema"].items() if k.startswith("module.")}
    loaded = generator.state_dict()
    assert all(torch.equal(loaded[k], ema[k]) for k in loaded)  # the EMA weights, not the raw ones
    assert any(not torch.equal(state["generator"][k], ema[k]) for k in loaded if ema[k].is_floating_point())
    with torch.no_grad():
        expected = generator(torch.randn(5, noise_dim, generator=torch.Generator().manual_seed(0)))
    assert np.array_equal(array, ((expected + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy())
    assert run_cli("sample", str(image_run), "--num-samples", "3", "--out", str(tmp_path / "pngs")).returncode == 0
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir()) == ["000000.png", "000001.png", "000002.png"]


@pytest.mark.slow
def test_sample_writes_points_for_2d_data(tmp_path):
    assert run_cli("train", "steps=5", *FAST, f"hydra.run.dir={tmp_path / 'run'}").returncode == 0
    result = run_cli("sample", str(tmp_path / "run" / "checkpoints" / "last.pt"), "--num-samples", "7",
                     "--out", str(tmp_path / "p.csv"))
    assert result.returncode == 0, result.stderr
    points = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1)
    assert points.shape == (7, 2) and np.isfinite(points).all()
    assert run_cli("sample", str(tmp_path / "run"), "--out", str(tmp_path / "p.png")).returncode == 0
    assert (tmp_path / "p.png").stat().st_size > 1000


@pytest.mark.parametrize("args, message", [
    (["nowhere", "--out", "x.png"], "no such checkpoint"),
    (["RUN", "--out", "x.csv"], "for images write .png/.jpg, .npy or a folder"),
    (["RUN", "--out", "missing/x.png"], "does not exist"),
])
@pytest.mark.slow
def test_sample_bad_input_is_one_line(image_run, tmp_path, args, message):
    args = [str(image_run) if a == "RUN" else a for a in args]
    result = run_cli("sample", *args, cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


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


def png_folder(folder: Path, n: int = 40) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGHUP", "SIGTERM to the process group, data streaming"])
def test_a_hangup_or_a_group_sigterm_saves_last_pt_and_resumes(tmp_path, how):
    """A closed terminal sends SIGHUP; scancel / docker stop signal every process of the group,
    DataLoader workers included: both save last.pt at the end of the step, like a plain SIGTERM."""
    run_dir = tmp_path / "run"
    if how == "SIGHUP":
        overrides, sig = [*RUN, "steps=100000", "checkpoint.every=0", "eval.every=0"], signal.SIGHUP
    else:
        images = png_folder(tmp_path / "images")
        overrides = ["data=image_folder", f"data.path={images}", "data.size=8", "data.max_memory_mb=0",
                     "data.workers=2", "model.channels=4", "batch_size=8", "steps=100000", "checkpoint.every=0",
                     "eval.every=0", "fid.every=0", "log_every=1"]
        sig = signal.SIGTERM
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    process = subprocess.Popen([CLI, "train", *overrides, f"hydra.run.dir={run_dir}"], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    wait_until_logged(run_dir, process, step=4, tag="loss/generator")  # training, workers running
    os.killpg(process.pid, sig) if how != "SIGHUP" else process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + sig, stderr
    last_line = stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"wgan-cli: error: {sig.name} at step ") and "run the same command again" in last_line
    step = int(last_line.split(" at step ")[1].split(":")[0])
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["step"] == step > 3
    resumed = run_cli("train", *[o if not o.startswith("steps=") else f"steps={step + 2}" for o in overrides],
                      f"hydra.run.dir={run_dir}")
    assert resumed.returncode == 0, resumed.stderr
    assert f"at step {step}" in (run_dir / "train.log").read_text()
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["step"] == step + 2


@pytest.mark.slow
def test_a_second_run_in_a_busy_run_dir_is_refused_and_touches_nothing(tmp_path):
    run_dir = tmp_path / "run"
    first = start(run_dir, *RUN, "steps=100000", "checkpoint.every=0", "eval.every=0")
    wait_for(run_dir / "tb", first)
    record = {p.name: p.read_text() for p in (run_dir / ".hydra").glob("*.yaml")}
    second = run_cli("train", *RUN, "steps=5", "seed=7", f"hydra.run.dir={run_dir}")
    assert second.returncode != 0
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "another run is training there" in lines[0] and f"pid {first.pid}" in lines[0], lines
    assert {p.name: p.read_text() for p in (run_dir / ".hydra").glob("*.yaml")} == record  # seed=7 is not recorded
    assert not (run_dir / "summary.json").exists()
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=120)
    assert first.returncode == 128 + signal.SIGTERM
    # the lock went with its holder: the dir is free again, and the run resumes there
    resumed = run_cli("train", *RUN, "steps=1", f"hydra.run.dir={run_dir}")
    assert resumed.returncode == 0, resumed.stderr


@pytest.mark.slow
def test_a_refused_config_leaves_the_run_dirs_record_and_its_stale_temp_files_go(tmp_path):
    run_dir = tmp_path / "run"
    assert run_cli("train", *RUN, "steps=3", f"hydra.run.dir={run_dir}").returncode == 0
    record = {p.name: p.read_text() for p in (run_dir / ".hydra").glob("*.yaml")}
    refused = run_cli("train", *RUN, "steps=3", "batch_size=-4", f"hydra.run.dir={run_dir}")
    assert refused.returncode != 0 and "batch_size=-4" in refused.stderr
    assert {p.name: p.read_text() for p in (run_dir / ".hydra").glob("*.yaml")} == record
    orphan = run_dir / "checkpoints" / ".last.pt.99999.tmp"  # a write killed midway
    orphan.write_bytes(b"\0" * 1000)
    users = [run_dir / ".notes.tmp", run_dir / "checkpoints" / ".backup.tmp"]  # not ours: they stay
    for path in users:
        path.write_text("mine")
    assert run_cli("train", *RUN, "steps=4", f"hydra.run.dir={run_dir}").returncode == 0
    assert not orphan.exists()
    assert [p.read_text() for p in users] == ["mine", "mine"]
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["step"] == 4


@pytest.mark.parametrize("room_kb", [40, 4])
@pytest.mark.slow
def test_a_full_disk_is_one_line_and_keeps_the_last_checkpoint(small_disk, room_kb):
    run = small_disk / "run"
    args = ["model.width=32", "eval.every=10", "eval.n=64", "checkpoint.every=10", f"hydra.run.dir={run}"]
    assert run_cli("train", "steps=10", *args).returncode == 0
    before = (run / "checkpoints" / "last.pt").read_bytes()
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / "filler").write_bytes(b"\0" * max(0, free - room_kb * 1024))  # leaves less than a checkpoint
    result = run_cli("train", "steps=30", *args)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("wgan-cli: error: no space left on device writing " + str(run)), result.stderr
    assert (run / "checkpoints" / "last.pt").read_bytes() == before
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]


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


def test_a_dataset_of_a_few_images_is_accepted_with_a_warning(tmp_path, caplog):
    from PIL import Image

    from wgan_cli.data import DATASETS

    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "only.png")
    caplog.set_level(logging.WARNING)
    cfg = compose_config("data=image_folder", f"data.path={tmp_path}", "data.size=8").data
    source = DATASETS.build(cfg, torch.device("cpu"))
    assert len(source.images) == 1 and "only 1 image(s)" in caplog.text and "memorization" in caplog.text


@pytest.mark.slow
def test_a_group_sigterm_under_a_sweep_saves_the_running_job_and_a_rerun_resumes_it(tmp_path):
    """scancel of a sweep run on one node: every process of the group, the DataLoader workers of
    the streaming job included, gets SIGTERM. The running job saves last.pt and records itself as
    interrupted; the same command again resumes it from there."""
    sweep, images = tmp_path / "sweep", png_folder(tmp_path / "images")
    overrides = ["data=image_folder", f"data.path={images}", "data.size=8", "data.max_memory_mb=0", "data.workers=2",
                 "model.channels=4", "batch_size=8", "checkpoint.every=0", "eval.every=0", "fid.every=0", "log_every=1"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    process = subprocess.Popen([CLI, "train", "-m", *overrides, "steps=100000", "seed=0,1", f"hydra.sweep.dir={sweep}"],
                               env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    job = sweep / "0_seed=0"  # named by what the jobs vary
    wait_until_logged(job, process, step=4, tag="loss/generator")
    os.killpg(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "DataLoader worker" not in stderr and "Traceback" not in stderr, stderr
    step = torch.load(job / "checkpoints" / "last.pt", weights_only=True)["step"]
    assert step > 3 and json.loads((job / "summary.json").read_text())["status"] == "interrupted"
    assert not (sweep / "1_seed=1").exists()  # the sweep stopped with its running job
    rerun = run_cli("train", "-m", *overrides, f"steps={step + 2}", "seed=0,1", f"hydra.sweep.dir={sweep}")
    assert rerun.returncode == 0, rerun.stderr
    assert torch.load(job / "checkpoints" / "last.pt", weights_only=True)["step"] == step + 2
    assert f"resumed from {job / 'checkpoints' / 'last.pt'} at step {step}" in (job / "train.log").read_text()
    assert json.loads((sweep / "1_seed=1" / "summary.json").read_text())["status"] == "completed"


def test_only_this_tools_own_temporary_files_count_as_stale(tmp_path):
    from wgan_cli.rundir import RunDir

    run = RunDir(tmp_path)
    run.checkpoints.mkdir(parents=True)
    ours = [run.checkpoints / ".last.pt.123.tmp", run.checkpoints / ".best.pt.5.tmp",
            run.checkpoints / ".step_0000030.pt.9.tmp", tmp_path / ".summary.json.77.tmp"]
    users = [tmp_path / ".notes.tmp", run.checkpoints / ".backup.tmp", run.checkpoints / ".last.pt.tmp",
             tmp_path / ".summary.json.x.tmp", tmp_path / ".last.pt.1.tmp.bak"]
    for path in ours + users:
        path.write_text("x")
    assert sorted(run.stale_temp_files()) == sorted(ours)


def test_a_last_pt_that_is_not_a_file_is_refused_not_taken_for_a_fresh_start(tmp_path):
    from wgan_cli.errors import UserError
    from wgan_cli.training import Trainer

    (tmp_path / "checkpoints" / "last.pt").mkdir(parents=True)
    with pytest.raises(UserError) as caught:
        Trainer(compose_config("model.width=16", "eval.n=64"), tmp_path)
    assert str(caught.value) == (f"{tmp_path / 'checkpoints' / 'last.pt'} exists but is not a file; move it away "
                                 "to start the run over, or choose another hydra.run.dir")
    assert (tmp_path / "checkpoints" / "last.pt").is_dir()


@pytest.mark.parametrize("override, message", [
    ("optim.lr_d=inf", "optim.lr_d=inf: must be a finite number > 0"),
    ("optim.lr_g=nan", "optim.lr_g=nan: must be a finite number > 0"),
    ("optim.lr_d=-1e-4", "optim.lr_d=-0.0001: must be a finite number > 0"),
])
def test_an_infinite_or_nan_learning_rate_is_refused(override, message):
    from wgan_cli.validation import validate
    from wgan_cli.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        validate(compose_config(override))
    assert str(caught.value) == message


def test_a_negative_memory_cap_is_refused_as_every_other_negative_size(tmp_path):
    from wgan_cli.errors import ConfigError
    from wgan_cli.training import Trainer

    with pytest.raises(ConfigError) as caught:
        Trainer(compose_config("data=digits", "fid.every=0", "data.max_memory_mb=-1"), tmp_path)
    assert str(caught.value) == "data.max_memory_mb=-1: must be an integer >= 0 (0: an image folder always streams)"


def test_the_final_checkpoint_is_on_disk_before_the_final_evaluation(tmp_path, monkeypatch):
    """A signal's grace period ends in SIGKILL; a final evaluation or FID may outlast it: the
    trained state is saved before them, then again with their results."""
    from wgan_cli.rundir import RunDir
    from wgan_cli.training.tasks import Evaluate

    seen, evaluate = [], Evaluate.run

    def spy(self, ctx, tracker):  # noqa: ANN001, ANN202
        if ctx.step == 4:  # the last step
            last = RunDir(tmp_path).last
            seen.append(torch.load(last, weights_only=True)["step"] if last.exists() else None)
        return evaluate(self, ctx, tracker)

    monkeypatch.setattr(Evaluate, "run", spy)
    Trainer(compose_config(*FAST, "steps=4", "eval.every=0", "checkpoint.every=0"), tmp_path).fit()
    assert seen == [4]
    final = torch.load(RunDir(tmp_path).last, weights_only=True)
    assert final["step"] == 4 and final["history"]["w1/exact"][-1][0] == 4  # rewritten with the evaluation's results


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_fid_reference_statistics_are_computed_is_one_line(tmp_path, sig):
    """Before the loop's handlers exist (building the run, Inception on the reference images):
    one line, exit 128 + the signal, and a fresh run dir holding nothing but the record is not left."""
    run_dir = tmp_path / "run"
    process = subprocess.Popen([CLI, "train", "data=digits", f"fid.cache_dir={tmp_path / 'cache'}", "steps=10",
                                f"hydra.run.dir={run_dir}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while "FID features" not in ((run_dir / "train.log").read_text() if (run_dir / "train.log").is_file() else ""):
        assert process.poll() is None and time.monotonic() < deadline, "the reference statistics never started"
        time.sleep(0.2)
    time.sleep(1)  # inside Inception's batches
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + sig, stderr[-2000:]
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1] == (
        f"wgan-cli: error: {signal.Signals(sig).name} before training started: nothing was trained; run the same "
        "command to start it")
    assert not run_dir.exists()
