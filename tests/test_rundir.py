"""The run dir (rundir.py): one that cannot be created, one a running run holds, the .hydra record
kept across a refused run."""

from __future__ import annotations

import signal

import pytest
import torch

from helpers import STATEFUL_RUN, run_cli, start, wait_for


def test_an_output_dir_that_cannot_be_created_is_one_line(tmp_path):
    (tmp_path / "a_file").write_text("")
    result = run_cli("train", "steps=2", f"hydra.run.dir={tmp_path / 'a_file' / 'run'}")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "Not a directory" in result.stderr and str(tmp_path / "a_file") in result.stderr


@pytest.mark.slow
def test_a_second_run_in_a_busy_run_dir_is_refused_and_touches_nothing(tmp_path):
    run_dir = tmp_path / "run"
    first = start(run_dir, *STATEFUL_RUN, "steps=100000", "checkpoint.every=0", "eval.every=0")
    wait_for(run_dir / "tb", first)
    record = {p.name: p.read_text() for p in (run_dir / ".hydra").glob("*.yaml")}
    second = run_cli("train", *STATEFUL_RUN, "steps=5", "seed=7", f"hydra.run.dir={run_dir}")
    assert second.returncode != 0
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "another run is training there" in lines[0] and f"pid {first.pid}" in lines[0], lines
    assert {p.name: p.read_text() for p in (run_dir / ".hydra").glob("*.yaml")} == record  # seed=7 is not recorded
    assert not (run_dir / "summary.json").exists()
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=120)
    assert first.returncode == 128 + signal.SIGTERM
    # the lock went with its holder: the dir is free again, and the run resumes there
    resumed = run_cli("train", *STATEFUL_RUN, "steps=1", f"hydra.run.dir={run_dir}")
    assert resumed.returncode == 0, resumed.stderr


@pytest.mark.slow
def test_a_refused_config_leaves_the_run_dirs_record_and_its_stale_temp_files_go(tmp_path):
    run_dir = tmp_path / "run"
    assert run_cli("train", *STATEFUL_RUN, "steps=3", f"hydra.run.dir={run_dir}").returncode == 0
    record = {p.name: p.read_text() for p in (run_dir / ".hydra").glob("*.yaml")}
    refused = run_cli("train", *STATEFUL_RUN, "steps=3", "batch_size=-4", f"hydra.run.dir={run_dir}")
    assert refused.returncode != 0 and "batch_size=-4" in refused.stderr
    assert {p.name: p.read_text() for p in (run_dir / ".hydra").glob("*.yaml")} == record
    orphan = run_dir / "checkpoints" / ".last.pt.99999.tmp"  # a write killed midway
    orphan.write_bytes(b"\0" * 1000)
    users = [run_dir / ".notes.tmp", run_dir / "checkpoints" / ".backup.tmp"]  # not ours: they stay
    for path in users:
        path.write_text("mine")
    assert run_cli("train", *STATEFUL_RUN, "steps=4", f"hydra.run.dir={run_dir}").returncode == 0
    assert not orphan.exists()
    assert [p.read_text() for p in users] == ["mine", "mine"]
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["step"] == 4
