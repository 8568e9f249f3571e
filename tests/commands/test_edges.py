"""The side commands at their edges: an output that is an input, a signal or a closed pipe in the
middle of the work, absurd counts and seeds, formats a writer cannot write, inputs that cannot
give the asked metric, exact W1 that is exact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import CLI, FAST, run_cli
from wgan_cli import threads
from wgan_cli.errors import ConfigError


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> Path:
    """A two-job sweep of tiny image runs (digits): what sample and report read."""
    root = tmp_path_factory.mktemp("edges") / "sweep"
    result = run_cli("train", "-m", "experiment=digits", "steps=2", "eval.n=32", "probe.every=0", "seed=0,1",
                     f"hydra.sweep.dir={root}")
    assert result.returncode == 0, result.stderr
    return root


def run_dir(sweep: Path) -> Path:
    return next(p for p in sweep.iterdir() if p.name.startswith("0_"))


@pytest.mark.slow
def test_an_output_that_is_an_input_is_refused_even_with_force(two_runs, tmp_path):
    model = tmp_path / "model.npy"
    model.write_bytes((run_dir(two_runs) / "checkpoints" / "last.pt").read_bytes())
    before = model.read_bytes()
    result = run_cli("sample", str(model), "--out", str(model), "--force", "-n", "5")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"wgan-cli: error: --out {model}: is an input of this command; writing it "
                                     "would destroy what is being read; name another file")
    assert model.read_bytes() == before
    link = tmp_path / "link.npy"  # another name for the run dir's checkpoint
    os.link(run_dir(two_runs) / "checkpoints" / "last.pt", link)
    result = run_cli("sample", str(run_dir(two_runs)), "--out", str(link), "--force", "-n", "5")
    assert result.returncode == 1 and "is an input of this command (it is " in result.stderr
    assert link.read_bytes() == (run_dir(two_runs) / "checkpoints" / "last.pt").read_bytes()
    summary = next(two_runs.glob("*/summary.json"))
    picture = tmp_path / "summary.png"
    os.symlink(summary, picture)
    kept = summary.read_bytes()
    result = run_cli("report", str(two_runs), "--out", str(picture), "--force")
    assert result.returncode == 1 and "is an input of this command" in result.stderr, result.stderr
    assert summary.read_bytes() == kept


def test_statistics_cannot_give_kid_or_prdc_and_are_refused_before_inception_loads(tmp_path):
    stats = tmp_path / "st.npz"
    np.savez(stats, mu=np.zeros(2048), sigma=np.eye(2048), n=10)
    for flag in ("--kid", "--prdc"):
        started = time.monotonic()
        result = run_cli("fid", str(stats), str(stats), flag, "--weights", str(tmp_path / "no-such-weights.pt"))
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip() == (f"wgan-cli: error: {flag} needs features on both sides; {stats} holds only "
                                         "mu and sigma (--save-stats with --kid or --prdc keeps them)")
        assert time.monotonic() - started < 60  # not Inception's load (the weights named do not even exist)


@pytest.mark.slow
def test_report_refuses_formats_it_cannot_write_before_any_work_and_writes_the_others(two_runs, tmp_path):
    for name in ("summary.json", "last.pt", "myreport"):
        out = tmp_path / name
        out.write_text("mine")
        result = run_cli("report", str(two_runs), "--out", str(out), "--force")
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        line = result.stderr.strip()
        assert line.startswith(f"wgan-cli: error: --out {out}: write a picture: a file name ending in ")
        assert ".png" in line and ".pdf" in line and ".svg" in line
        assert out.read_text() == "mine"
    result = run_cli("report", str(two_runs), "--out", "/dev/null", "--force")
    assert result.returncode == 1 and "write a picture" in result.stderr
    for name in ("r.pdf", "r.svg", "r.jpg"):
        result = run_cli("report", str(two_runs), "--out", str(tmp_path / name))
        assert result.returncode == 0, result.stderr
        head = (tmp_path / name).read_bytes()[:8]
        assert head.startswith({"r.pdf": b"%PDF", "r.svg": b"<?xml", "r.jpg": b"\xff\xd8"}[name])


@pytest.mark.slow
def test_a_closed_pipe_ends_report_quietly_and_the_picture_is_written(two_runs, tmp_path):
    for fmt, reader in (("markdown", "head -1"), ("json", "head -c 60")):
        out = tmp_path / f"{fmt}.png"
        shell = subprocess.run(f"'{CLI}' report '{two_runs}' --format {fmt} --out '{out}' | {reader} >/dev/null; "
                               "echo ${PIPESTATUS[0]} >&2", shell=True, executable="/bin/bash",
                               capture_output=True, text=True, timeout=300)
        assert "Traceback" not in shell.stderr and "BrokenPipe" not in shell.stderr, shell.stderr
        assert shell.stderr.strip().splitlines()[-1] in ("0", "141")  # finished first, or ended by the pipe
        assert out.read_bytes()[:4] == b"\x89PNG"


def interrupted(args: list[str], ready, sig: int, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``wgan-cli ARGS``, send ``sig`` once ``ready()`` holds, and return how it ended."""
    process = subprocess.Popen([CLI, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not ready():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the work never started"
        time.sleep(0.05)
    process.send_signal(sig)
    try:
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_sample_in_one_line_and_leaves_no_temporary_file(two_runs, tmp_path, sig):
    out = tmp_path / "folder"
    result = interrupted(["sample", str(run_dir(two_runs)), "-n", "100000", "--out", str(out)],
                         lambda: any(p.name.startswith(".folder.") and any(p.iterdir()) for p in tmp_path.iterdir()),
                         sig, tmp_path)
    assert result.returncode == 128 + sig, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"wgan-cli: {signal.Signals(sig).name}: stopped; an output not yet complete "
                                     "was not written, and one that existed is as it was")
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its temporary twin (.folder.PID.tmp)


@pytest.mark.slow
def test_a_signal_ends_w1_in_one_line(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.normal(size=(400, 8)))
    np.save(tmp_path / "b.npy", rng.normal(size=(400, 8)) + 1)
    started = time.monotonic()
    result = interrupted(["w1", "a.npy", "b.npy", "--method", "critic", "--steps", "10000000"],
                         lambda: time.monotonic() - started > 8, signal.SIGINT, tmp_path)
    assert result.returncode == 130 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("wgan-cli: SIGINT: stopped")


def test_ctrl_c_while_a_command_module_is_still_importing_is_one_line(tmp_path, monkeypatch, capsys):
    """A command's imports (Hydra for train: a second or more on a busy machine) run before it
    handles signals itself; a Ctrl-C there ends in one line and exit 130, not a traceback."""
    from wgan_cli import cli

    (tmp_path / "slow_to_load.py").write_text("raise KeyboardInterrupt  # Ctrl-C mid-import\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.SUBCOMMANDS, "w1", ("slow_to_load", "a command still loading"))
    with pytest.raises(SystemExit) as ended:
        cli.main(["w1", "a.npy", "b.npy"])
    assert ended.value.code == 130
    assert capsys.readouterr().err == "wgan-cli: SIGINT: stopped while the command was starting; nothing was written\n"


def test_identical_samples_are_exactly_zero_apart(tmp_path):
    rng = np.random.default_rng(0)
    cases = {"far.npy": rng.normal(size=(500, 2)) + 2e6, "wide.npy": rng.normal(size=(50, 10000)) * 30 + 5}
    for name, x in cases.items():
        np.save(tmp_path / name, x)
        result = run_cli("w1", name, name, "--method", "exact,lp" if len(x) <= 300 else "exact", "--json",
                         cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        for method, entry in json.loads(result.stdout)["methods"].items():
            assert abs(entry["value"]) < 5e-7, (name, method, entry)  # prints as 0.000000
        exact = json.loads(result.stdout)["methods"]["exact"]["value"]
        assert exact == 0.0, name


def test_the_cost_matrix_does_not_depend_on_where_the_points_sit():
    from wgan_cli.metrics.w1 import cost_matrix, exact_w1

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(300, 3)), rng.normal(size=(200, 3))
    near, far = exact_w1(x, y), exact_w1(x + 1e6, y + 1e6)
    assert far == pytest.approx(near, rel=1e-9)
    exact = np.sqrt(((x[:, None] - y[None]) ** 2).sum(-1))
    assert np.abs(cost_matrix(x + 1e6, y + 1e6) - exact).max() < 1e-8
    assert np.array_equal(np.diag(cost_matrix(x, x)), np.zeros(len(x)))


def test_thread_counts_above_the_ceiling_are_refused_in_one_line(tmp_path):
    ceiling = threads.most_threads()
    assert threads.parse_setting(str(ceiling)) == ceiling
    with pytest.raises(ConfigError, match=rf"^train\.threads=1000000000: more than {ceiling} threads "):
        threads.parse_setting("1000000000")
    result = run_cli("train", "train.threads=1000000000", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2 and result.stderr.strip().startswith(
        "wgan-cli: error: train.threads=1000000000: more than"), result.stderr
    assert not (tmp_path / "run").exists()
    result = run_cli("sample", "run", "--threads", "1000000000", "--out", "s.npy", cwd=tmp_path)
    assert result.returncode == 2 and "--threads=1000000000: more than" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no temporary file: refused as the command line is read


@pytest.mark.parametrize("command", [
    ["sample", "run", "--out", "s.npy", "--seed"],
    ["w1", "a.npy", "b.npy", "--seed"],
    ["fid", "a", "b", "--seed"],
])
def test_a_seed_outside_the_generators_range_is_one_line(command, tmp_path):
    result = run_cli(*command, "1180591620717411303424", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith(
        "argument --seed: 1180591620717411303424: choose a seed in [0, 4294967295] (2**32 - 1)")
    result = run_cli("train", "seed=4294967296", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2 and result.stderr.strip() == (
        "wgan-cli: error: seed=4294967296: must be an integer in [0, 4294967295] (2**32 - 1)")


@pytest.mark.slow
def test_resume_turning_the_moving_average_on_starts_it_from_the_saved_generator(tmp_path):
    import torch

    run = tmp_path / "run"
    assert run_cli("train", *FAST, "steps=4", "eval.every=0", "ema.decay=0", f"hydra.run.dir={run}").returncode == 0
    saved = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert saved["ema"] is None
    result = run_cli("train", *FAST, "steps=4", "eval.every=0", "ema.decay=0.99", "ema.start=0",
                     f"hydra.run.dir={run}")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "ema: the checkpoint keeps no moving average" in (run / "train.log").read_text()
    result = run_cli("train", *FAST, "steps=6", "eval.every=0", "ema.decay=0.99", "ema.start=0",
                     f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["ema"] is not None and int(state["ema"]["n_averaged"]) == 2  # steps 5 and 6


@pytest.mark.slow
def test_a_checkpoint_far_past_its_steps_is_complete_and_stays_completed(tmp_path):
    import torch

    run = tmp_path / "run"
    assert run_cli("train", *FAST, "steps=3", "eval.every=0", f"hydra.run.dir={run}").returncode == 0
    last = run / "checkpoints" / "last.pt"
    state = torch.load(last, weights_only=False)
    state["step"] = 10**12
    torch.save(state, last)
    (run / "summary.json").unlink()  # else the completed run is left as it is, its summary kept
    result = run_cli("train", *FAST, "steps=3", "eval.every=0", f"hydra.run.dir={run}")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "the run is complete (step 1000000000000 of 3)" in (run / "train.log").read_text()
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"


def test_a_run_dir_the_log_cannot_be_written_in_is_one_line_naming_the_file(tmp_path):
    import logging.config

    from wgan_cli.reporting import one_line

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    log = blocker / "train.log"
    with pytest.raises(ValueError) as caught:  # what Hydra meets configuring the run's log handler
        logging.config.dictConfig({"version": 1, "handlers": {"file": {"class": "logging.FileHandler",
                                                                     "filename": str(log)}}})
    assert one_line(caught.value) == (f"{log}: Not a directory; the run's log cannot be written there: choose a run "
                                      "dir you can write (hydra.run.dir, or hydra.sweep.dir for -m)")


def test_a_file_name_the_system_refuses_is_one_line_without_hydras_job_banner(tmp_path):
    long = tmp_path / ("y" * 300 + ".pt")
    result = run_cli("train", "steps=2", f"resume={long}", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 1 and "Error executing job" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"wgan-cli: error: {long}: File name too long"
    assert not (tmp_path / "run").exists()
