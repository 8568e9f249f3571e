"""Sweeps beyond one process: the SLURM launcher config (composed: no cluster here), submitit's
requeue with resume (through submitit's real local executor), the Optuna search, and the one-line
error when a plugin's extra is not installed."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from helpers import run_cli, scalars, wait_until_logged

TINY = ["critic=gp", "model.width=32", "batch_size=32", "eval.n=100"]


def test_the_slurm_config_composes_with_requeue_settings(tmp_path):
    result = run_cli("train", "hydra/launcher=slurm", "hydra.launcher.partition=gpu", "--cfg", "hydra", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    launcher = OmegaConf.create(OmegaConf.to_container(OmegaConf.create(result.stdout))["hydra"]["launcher"])
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert launcher.partition == "gpu" and launcher.gpus_per_node == 1 and launcher.tasks_per_node == 1
    assert launcher.timeout_min > 0 and launcher.max_num_timeout > 0  # requeued on time-out
    assert 0 < launcher.signal_delay_s < launcher.timeout_min * 60
    assert OmegaConf.to_container(launcher)["submitit_folder"].startswith("${hydra.sweep.dir}")  # logs beside the runs


def _submitit_task_pids(folder: Path, count: int = 1, timeout: float = 240) -> list[int]:
    """The pids of the ``count`` processes submitit's local executor started for the job (its tasks:
    each runs the trainer)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        pids = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"submitit.core._submit" in cmd and any(str(folder).encode() in c for c in cmd):
                pids.append(int(proc.name))
        if len(pids) == count:
            return pids
        time.sleep(0.2)
    raise AssertionError(f"not {count} submitit tasks for {folder}")


def _preempted_sweep(tmp_path: Path, args: list[str], env: dict, started: int, tasks: int = 1) -> Path:
    """Start a one-job submitit_local sweep of ``tasks`` tasks, send USR2 (SLURM's warning before a time-out or
    preemption) to each of its tasks some way into training (once the events hold step ``started``), and
    wait for the requeued job to finish; returns the job's run dir."""
    import subprocess

    from helpers import CLI

    sweep = tmp_path / "sweep"
    launcher = ["hydra/launcher=submitit_local", f"hydra.launcher.tasks_per_node={tasks}"]
    proc = subprocess.Popen([CLI, "train", "-m", *launcher, *args, f"hydra.sweep.dir={sweep}"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids = _submitit_task_pids(sweep / ".submitit", count=tasks)
    wait_until_logged(sweep / "0", proc, step=started)  # some way into the run
    for pid in pids:
        os.kill(pid, signal.SIGUSR2)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    return sweep / "0"


@pytest.mark.slow
def test_a_preempted_submitit_job_saves_requeues_and_resumes_exactly(tmp_path):
    """USR2 (SLURM's warning before a time-out or preemption) mid-run: the job saves last.pt,
    submitit requeues it, the new attempt resumes in the same run dir and ends where an
    uninterrupted run ends."""
    args = [*TINY, "steps=2000", "eval.every=500", "log_every=50", "checkpoint.every=100000"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    run = _preempted_sweep(tmp_path, args, env, started=50)
    sweep, log = run.parent, run / "train.log"

    text = log.read_text()
    assert "this job is preempted" in text and "Requeued job" in text
    (resumed_at,) = map(int, re.findall(r"resumed from .*last\.pt at step (\d+)", text))
    assert 0 < resumed_at < 2000
    summary = json.loads((sweep / "0" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == 2000
    assert [d.name for d in sweep.iterdir() if d.is_dir() and not d.name.startswith(".")] == ["0"]  # same run dir
    steps = [s for s, _ in scalars(sweep / "0")["loss/critic"]]
    assert steps == list(range(50, 2001, 50))  # no step logged twice, none missing

    alone = run_cli("train", *args, f"hydra.run.dir={tmp_path / 'alone'}", cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    requeued = torch.load(sweep / "0" / "checkpoints" / "last.pt", weights_only=False)
    uninterrupted = torch.load(tmp_path / "alone" / "checkpoints" / "last.pt", weights_only=False)
    for part in ("generator", "critic"):
        for key, value in uninterrupted[part].items():
            assert torch.equal(requeued[part][key], value), f"{part}.{key} differs after the requeue"


@pytest.mark.slow
def test_optuna_search_minimizes_final_exact_w1(tmp_path):
    result = run_cli("train", "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=3", *TINY,
                     "steps=30", "eval.every=15", "log_every=5", f"hydra.sweep.dir={tmp_path}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    trials = {}
    for path in tmp_path.glob("*/summary.json"):
        summary = json.loads(path.read_text())
        params = dict(o.split("=", 1) for o in summary["overrides"])
        assert 1e-5 <= float(params["optim.lr_d"]) <= 3e-3 and 1e-5 <= float(params["optim.lr_g"]) <= 3e-3
        assert 1 <= int(params["n_critic"]) <= 10
        trials[path.parent.name] = (summary["final"]["w1/exact"], params)
    assert len(trials) == 3
    results = OmegaConf.load(tmp_path / "optimization_results.yaml")
    best_value, best_params = min(trials.values(), key=lambda t: t[0])
    assert results.best_value == best_value  # the value Optuna minimized is the returned final w1/exact
    assert {k: str(v) for k, v in results.best_params.items()} == {k: best_params[k] for k in results.best_params}


@pytest.mark.slow
def test_a_missing_plugin_names_the_extra_to_install(tmp_path):
    # a regular package named hydra_plugins shadows the installed namespace package: no plugins
    (tmp_path / "hydra_plugins").mkdir()
    (tmp_path / "hydra_plugins" / "__init__.py").write_text("")
    for override, extra in [("hydra/launcher=slurm", "slurm"), ("hparams_search=optuna", "optuna"),
                            ("hydra/launcher=joblib", "joblib")]:
        result = run_cli("train", "-m", override, "steps=1", cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)})
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            next(ln for ln in result.stderr.splitlines() if ln.startswith("wgan-cli: error:"))]
        assert f"pip install 'wgan-cli[{extra}]'" in result.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_a_sweep_job_of_two_submitit_tasks_is_one_data_parallel_run(tmp_path):
    """``hydra.launcher.tasks_per_node=2``: submitit starts two processes per job (srun's tasks on
    SLURM); they join one gloo group from submitit's variables and take the steps one process with
    the whole batch takes, to float rounding. Rank 0 alone writes the log, events, checkpoint and
    summary of each job."""
    sweep = tmp_path / "sweep"
    args = ["model.width=32", "batch_size=32", "eval.n=100", "steps=4", "log_every=1", "eval.every=0"]
    env = {"OMP_NUM_THREADS": "1"}
    result = run_cli("train", "-m", "hydra/launcher=submitit_local", "hydra.launcher.tasks_per_node=2",
                     "critic=gp,sn", *args, f"hydra.sweep.dir={sweep}", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for job, critic in enumerate(["gp", "sn"]):
        run = sweep / f"{job}_critic={critic}"
        single = run_cli("train", f"critic={critic}", *args, f"hydra.run.dir={tmp_path / critic}", cwd=tmp_path,
                         env=env)
        assert single.returncode == 0, single.stderr
        text = (run / "train.log").read_text()
        assert "data parallel over 2 processes" in text
        assert text.count("training mlp") == 1  # rank 1 left the shared log to rank 0
        assert len(list((run / "tb").glob("events.out.tfevents.*"))) == 1  # one writer, rank 0's
        assert all(len(list(sub.iterdir())) == 1 for sub in (run / "tb").iterdir() if sub.is_dir())  # W1 series
        assert [p.name for p in (run / "checkpoints").iterdir()] == ["last.pt"]
        assert json.loads((run / "summary.json").read_text())["status"] == "completed"
        ours, reference = scalars(run)["loss/critic"], scalars(tmp_path / critic)["loss/critic"]
        assert [s for s, _ in ours] == [1, 2, 3, 4]
        assert [v for _, v in ours] == pytest.approx([v for _, v in reference], rel=1e-5, abs=1e-6)
        a = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
        b = torch.load(tmp_path / critic / "checkpoints" / "last.pt", weights_only=False)
        for part in ("generator", "critic"):
            for key, value in b[part].items():
                torch.testing.assert_close(a[part][key], value, rtol=1e-5, atol=1e-6, msg=f"{part}.{key}")


@pytest.mark.slow
def test_a_preempted_job_of_two_submitit_tasks_requeues_and_resumes_as_one_run(tmp_path):
    """USR2 to both tasks of a data-parallel job (SLURM signals every task): rank 0 saves last.pt,
    every rank stops at that step, submitit's controller starts both tasks again, and they resume
    from last.pt and end bitwise where an uninterrupted two-process run (torchrun) ends."""
    import subprocess

    from helpers import CLI

    args = [*TINY, "steps=800", "eval.every=0", "log_every=50", "checkpoint.every=100000"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"} | {"OMP_NUM_THREADS": "1"}
    run = _preempted_sweep(tmp_path, args, env, started=50, tasks=2)
    sweep, log = run.parent, run / "train.log"

    text = log.read_text()
    (resumed_at,) = map(int, re.findall(r"resumed from .*last\.pt at step (\d+)", text))
    assert 0 < resumed_at < 800 and "Requeued job" in text
    assert text.count("data parallel over 2 processes") == 2  # both attempts
    summary = json.loads((sweep / "0" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == 800
    assert [s for s, _ in scalars(sweep / "0")["loss/critic"]] == list(range(50, 801, 50))

    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", CLI]
    alone = subprocess.run([*torchrun, "train", *args, f"hydra.run.dir={tmp_path / 'alone'}"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300, env=env)
    assert alone.returncode == 0, alone.stderr[-3000:]
    requeued = torch.load(sweep / "0" / "checkpoints" / "last.pt", weights_only=False)
    uninterrupted = torch.load(tmp_path / "alone" / "checkpoints" / "last.pt", weights_only=False)
    for part in ("generator", "critic"):
        for key, value in uninterrupted[part].items():
            assert torch.equal(requeued[part][key], value), f"{part}.{key} differs after the requeue"


@pytest.mark.slow
def test_an_optuna_search_on_digits_minimizes_the_key_named_and_continues_after_a_kill(tmp_path):
    """objective=w1/probe: Optuna's best value is the smallest final w1/probe; the study lives in
    the sweep dir, so after a SIGKILL `wgan-cli continue` replays the finished trials without
    training them again (the sampler's seed replays their parameters) and goes on."""
    import subprocess

    import optuna

    digits = ["hparams_search=optuna", "data=digits", "steps=30", "eval.n=32", "fid.every=0", "probe.updates=5",
              "objective=w1/probe", f"hydra.sweep.dir={tmp_path}"]
    process = subprocess.Popen(["wgan-cli", "train", "-m", "hydra.sweeper.n_trials=3", *digits], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                               env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    deadline = time.monotonic() + 240
    while not (tmp_path / "1" / "train.log").is_file():  # trial 0 finished, trial 1 started
        assert process.poll() is None and time.monotonic() < deadline, "the search never reached its second trial"
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = json.loads((tmp_path / "0" / "summary.json").read_text())
    assert (tmp_path / "optuna.db").is_file()
    again = run_cli("continue", str(tmp_path), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "0" / "summary.json").read_text()) == finished  # kept, not trained again
    assert "nothing to train, its summary.json holds its results" in (tmp_path / "0" / "train.log").read_text()
    probes = {p.parent.name: json.loads(p.read_text())["final"]["w1/probe"] for p in tmp_path.glob("*/summary.json")
              if json.loads(p.read_text())["status"] == "completed"}
    assert len(probes) >= 3
    study = optuna.load_study(study_name="wgan", storage=f"sqlite:///{tmp_path}/optuna.db")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) >= 4  # the first run's finished trial and the continued run's three
    assert study.best_value == min(probes.values())  # what was minimized: the final w1/probe
    assert OmegaConf.load(tmp_path / "optimization_results.yaml").best_value == study.best_value
