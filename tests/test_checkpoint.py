"""Checkpoints (checkpoint.py): their cadence and count, atomic writes that never cost the previous one,
a full disk, temporary files, the final one before the final evaluation."""

from __future__ import annotations

import errno
import os

import pytest
import torch

from helpers import FAST, STATEFUL_RUN, compose_config, run_cli
from wgan_cli import checkpoint
from wgan_cli.training import Trainer


def test_checkpoints_every_n_steps_and_keep_the_last_k(tmp_path):
    cfg = compose_config(*STATEFUL_RUN, "steps=35", "checkpoint.every=10", "checkpoint.keep=2", "eval.every=0")
    Trainer(cfg, tmp_path).fit()
    folder = tmp_path / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt", "step_0000030.pt", "step_0000035.pt"]
    last, kept = (torch.load(folder / n, weights_only=True) for n in ("last.pt", "step_0000030.pt"))
    assert last["step"] == 35 and kept["step"] == 30
    assert last["rng_global"]["numpy"][0] == "MT19937" and "python" in last["rng_global"]


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


def test_the_final_checkpoint_is_on_disk_before_the_final_evaluation(tmp_path, monkeypatch, make_trainer):
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
    make_trainer(*FAST, "steps=4", "eval.every=0", "checkpoint.every=0").fit()
    assert seen == [4]
    final = torch.load(RunDir(tmp_path).last, weights_only=True)
    assert final["step"] == 4 and final["history"]["w1/exact"][-1][0] == 4  # rewritten with the evaluation's results
