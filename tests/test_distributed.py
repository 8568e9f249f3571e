"""Data parallelism: ``torchrun --nproc_per_node=2`` with the gloo backend on CPU, through the real
CLI. Two processes with half the batch each take the same steps as one process with the whole."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from conftest import CLI, run_cli, scalars

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", CLI]
RUN = ["steps=4", "log_every=1", "eval.every=0", "eval.n=100", "model.width=32", "batch_size=32"]


@pytest.mark.parametrize("critic", ["gp", "sn"])
def test_two_processes_take_the_steps_of_one(critic, tmp_path):
    import subprocess

    env = {"OMP_NUM_THREADS": "1", "PATH": str(Path(sys.executable).parent)}
    ddp = subprocess.run([*TORCHRUN, "train", f"critic={critic}", *RUN, f"hydra.run.dir={tmp_path / 'ddp'}"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = run_cli("train", f"critic={critic}", *RUN, f"hydra.run.dir={tmp_path / 'single'}", cwd=tmp_path,
                     env={"OMP_NUM_THREADS": "1"})
    assert single.returncode == 0, single.stderr

    run = tmp_path / "ddp"
    assert len(list((run / "tb").iterdir())) == 1  # rank 0 alone logs
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["last.pt"]
    assert (run / "train.log").read_text().count("training mlp") == 1
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp", "single"]  # both ranks wrote into one dir

    ours, reference = scalars(run), scalars(tmp_path / "single")
    for tag in ("loss/critic", "loss/generator") + (("loss/penalty",) if critic == "gp" else ()):
        assert [s for s, _ in ours[tag]] == [1, 2, 3, 4]
        # the logged losses are averaged over the ranks: the global batch's
        assert [v for _, v in ours[tag]] == pytest.approx([v for _, v in reference[tag]], rel=1e-5, abs=1e-6), tag
    a = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "single" / "checkpoints" / "last.pt", weights_only=False)
    for part in ("generator", "critic"):  # weights, and SN's power-iteration vectors
        for key, value in b[part].items():
            torch.testing.assert_close(a[part][key], value, rtol=1e-5, atol=1e-6, msg=f"{part}.{key}")


def test_a_batch_that_does_not_split_over_the_ranks_is_one_line(tmp_path):
    import subprocess

    result = subprocess.run([*TORCHRUN, "train", *RUN, "batch_size=33", f"hydra.run.dir={tmp_path / 'run'}"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={"OMP_NUM_THREADS": "1", "PATH": str(Path(sys.executable).parent)})
    assert result.returncode != 0
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("wgan-cli: error:")]
    assert errors and all("batch_size=33: split over 2 processes (torchrun or submitit tasks), the global batch must divide by 2" in e for e in errors)
    assert "/wgan_cli/" not in result.stderr  # no traceback of ours (torchrun prints its own agent's)
