"""Signals (interrupts.py): each saves last.pt and exits with its code, a second one exits at once,
a process group's and a sweep's, and one during start-up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import torch

from helpers import CLI, STATEFUL_RUN, png_folder, run_cli, scalars, start, wait_for, wait_until_logged
from wgan_cli.interrupts import ONE_DELIVERY_S, Interrupted, StopRequests


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR2])
def test_a_signal_saves_last_pt_and_exits_with_its_code(tmp_path, sig):
    run_dir = tmp_path / "run"
    process = start(run_dir, *STATEFUL_RUN, "steps=100000", "checkpoint.every=0", "eval.every=0")
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


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGHUP", "SIGTERM to the process group, data streaming"])
def test_a_hangup_or_a_group_sigterm_saves_last_pt_and_resumes(tmp_path, how):
    """A closed terminal sends SIGHUP; scancel / docker stop signal every process of the group,
    DataLoader workers included: both save last.pt at the end of the step, like a plain SIGTERM."""
    run_dir = tmp_path / "run"
    if how == "SIGHUP":
        overrides, sig = [*STATEFUL_RUN, "steps=100000", "checkpoint.every=0", "eval.every=0"], signal.SIGHUP
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


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_the_final_evaluation_stops_it_and_records_interrupted(tmp_path, sig):
    """The last step's probe reading (here made endless) runs after last.pt is written: a signal
    then ends it at once, in one line, with 128 + the signal and the summary saying interrupted;
    the same command again finishes the run."""
    run_dir = tmp_path / "run"
    overrides = ["model.width=32", "batch_size=32", "eval.n=64", "steps=20", "probe.every=20",
                 "probe.updates=10000000", "checkpoint.every=0"]
    process = start(run_dir, *overrides)
    last = run_dir / "checkpoints" / "last.pt"
    wait_for(last, process, timeout=240)
    assert torch.load(last, weights_only=True)["step"] == 20  # saved before the final evaluation
    time.sleep(1)  # inside the probe's fit
    process.send_signal(sig)
    try:
        _, stderr = process.communicate(timeout=120)  # without the stop, the fit would run for hours
    finally:
        process.kill()
    assert process.returncode == 128 + sig, stderr[-2000:]
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        f"wgan-cli: error: {signal.Signals(sig).name} during the final evaluation: saved {last} before it; run the "
        "same command again to finish it")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["steps"] == 20
    again = run_cli("train", *overrides[:-3], "probe.every=0", f"hydra.run.dir={run_dir}")
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


def test_stop_requests_raise_at_once_after_the_save(tmp_path):
    saved = tmp_path / "last.pt"
    with StopRequests() as stop:
        with pytest.raises(Interrupted) as caught, stop.saved_before(saved):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # never reached: the handler raises
        assert caught.value.exit_code == 128 + signal.SIGTERM and str(saved) in str(caught.value)
        assert stop.saved is None
    with StopRequests() as stop:  # a signal that came just before the final phase ends it on entry
        os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(Interrupted), stop.saved_before(saved):
            pytest.fail("the block runs after a signal that came before it")
