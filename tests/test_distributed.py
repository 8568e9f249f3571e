"""Data parallelism: ``torchrun --nproc_per_node=2`` with the gloo backend on CPU, through the real
CLI. Two processes with half the batch each take the same steps as one process with the whole."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from helpers import CLI, run_cli, scalars

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", CLI]
RUN = ["steps=4", "log_every=1", "eval.every=0", "eval.n=100", "model.width=32", "batch_size=32"]


def train_twice(tmp_path: Path, *args: str) -> None:
    """The same run under torchrun over 2 processes (run dir ``ddp``) and in one (``single``)."""
    import subprocess

    env = {"OMP_NUM_THREADS": "1", "PATH": str(Path(sys.executable).parent)}
    ddp = subprocess.run([*TORCHRUN, "train", *args, f"hydra.run.dir={tmp_path / 'ddp'}"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = run_cli("train", *args, f"hydra.run.dir={tmp_path / 'single'}", cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert single.returncode == 0, single.stderr


@pytest.mark.slow
@pytest.mark.parametrize("critic", ["gp", "sn"])
def test_two_processes_take_the_steps_of_one(critic, tmp_path):
    train_twice(tmp_path, f"critic={critic}", *RUN)

    run = tmp_path / "ddp"
    assert len(list((run / "tb").glob("events.out.tfevents.*"))) == 1  # rank 0 alone logs
    assert all(len(list(sub.iterdir())) == 1 for sub in (run / "tb").iterdir() if sub.is_dir())  # its W1 series
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


@pytest.mark.slow
def test_batch_norm_in_the_generator_normalizes_over_the_global_batch(tmp_path):
    """The DCGAN-like generator's BatchNorm layers under torchrun: after one generator step (a
    forward for each of the 2 critic steps' fakes and one for the generator update, all with the
    initial weights) their running statistics equal a single process's; per-rank statistics differ by ~1e-2."""
    train_twice(tmp_path, "data=digits", "fid.every=0", "model=cnn32", "model.channels=8", "critic=sn", "n_critic=2", "steps=1",
                "eval.every=0", "batch_size=16")
    a = torch.load(tmp_path / "ddp" / "checkpoints" / "last.pt", weights_only=False)["generator"]
    b = torch.load(tmp_path / "single" / "checkpoints" / "last.pt", weights_only=False)["generator"]
    stats = [k for k in b if k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert len(stats) == 12 and int(b["net.0.num_batches_tracked"]) == 3
    for key in stats:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)


def _batch_norm_rank(rank: int, store: str, x: torch.Tensor, weights: torch.Tensor, out: str) -> None:
    """One rank of ``test_batch_norm_over_two_ranks_is_batch_norm_over_the_whole_batch``."""
    import torch.distributed as dist

    from wgan_cli.sync_batch_norm import sync_batch_norm

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    torch.manual_seed(0)
    net = sync_batch_norm(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4)))
    rows = slice(rank * 4, rank * 4 + 4)
    x = x[rows].clone().requires_grad_(True)
    y = net(x)
    (y * weights[rows]).sum().backward()  # this rank's part of the loss
    grads = [p.grad for p in net.parameters()]
    for g in grads:  # what DDP does with each rank's parameter gradients (summed here, not averaged)
        dist.all_reduce(g)
    torch.save({"y": y.detach(), "x_grad": x.grad, "grads": grads, "buffers": dict(net[1].named_buffers())},
               f"{out}.{rank}")
    dist.destroy_process_group()


def test_batch_norm_over_two_ranks_is_batch_norm_over_the_whole_batch(tmp_path):
    """Two ranks with 4 rows each: outputs, input and parameter gradients and running statistics
    are those of ``nn.BatchNorm2d`` on all 8 rows in one process."""
    import torch.multiprocessing as mp

    x, weights = torch.randn(8, 3, 5, 5) * 3 + 1, torch.randn(8, 4, 5, 5)
    mp.spawn(_batch_norm_rank, args=(str(tmp_path / "store"), x, weights, str(tmp_path / "out")), nprocs=2)
    ranks = [torch.load(tmp_path / f"out.{r}") for r in range(2)]

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
    x.requires_grad_(True)
    y = net(x)
    (y * weights).sum().backward()
    close = {"rtol": 1e-5, "atol": 1e-5}
    torch.testing.assert_close(torch.cat([r["y"] for r in ranks]), y.detach(), **close)
    torch.testing.assert_close(torch.cat([r["x_grad"] for r in ranks]), x.grad, **close)
    for ours, theirs in zip(ranks[0]["grads"], [p.grad for p in net.parameters()]):
        torch.testing.assert_close(ours, theirs, **close)  # conv weight and bias, BN weight and bias
    for r in ranks:
        for name, buffer in net[1].named_buffers():  # the running mean and (unbiased) variance, the count
            torch.testing.assert_close(r["buffers"][name], buffer, **close)
    # normalized by one rank's rows alone, the outputs would be far from these: the test can fail
    alone = F.batch_norm(net[0](x[:4]), None, None, net[1].weight, net[1].bias, training=True)
    assert (alone - y[:4]).abs().max() > 1e-2


@pytest.mark.slow
def test_a_batch_that_does_not_split_over_the_ranks_is_one_line(tmp_path):
    import subprocess

    result = subprocess.run([*TORCHRUN, "train", *RUN, "batch_size=33", f"hydra.run.dir={tmp_path / 'run'}"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={"OMP_NUM_THREADS": "1", "PATH": str(Path(sys.executable).parent)})
    assert result.returncode != 0
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("wgan-cli: error:")]
    assert errors and all("batch_size=33: split over 2 processes (torchrun or submitit tasks), the global batch must divide by 2" in e for e in errors)
    assert "/wgan_cli/" not in result.stderr  # no traceback of ours (torchrun prints its own agent's)
