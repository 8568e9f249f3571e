"""Requests too large for the machine are refused before the work, in one line with what fits."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from helpers import compose_config, run_cli
from wgan_cli.errors import out_of_memory
from wgan_cli.memory import TooLarge, activations_per_sample, host_available, training_step_bytes
from wgan_cli.model import MODELS


def largest(stderr: str) -> int:
    return int(re.search(r"the largest that fits is about (\d+)", stderr).group(1))


@pytest.mark.slow
def test_a_batch_that_cannot_fit_is_refused_before_training(tmp_path):
    result = run_cli("train", "batch_size=100000000", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("wgan-cli: error: batch_size=100000000: a training step needs about ")
    assert not (tmp_path / "run" / "checkpoints").exists()
    fits = largest(result.stderr)
    cfg = compose_config()
    g, d = MODELS.build(cfg.model, (2,))
    need = training_step_bytes(g, d, (2,), 2, double_backward=False)
    assert need(fits) <= host_available() * 1.05 < need(fits * 2)  # the largest is the boundary, within drift


def test_eval_n_that_cannot_fit_names_the_largest_and_sliced(tmp_path, make_trainer):

    with pytest.raises(TooLarge, match=r"^eval.n=60000: exact W1 .* needs about .* GiB, .* available; the largest "
                                       r"that fits is about \d+; lower eval.n \(w1/sliced scales"):
        make_trainer("eval.n=60000", "steps=1")
    assert not (tmp_path / "checkpoints").exists()


def test_the_step_estimate_counts_each_layer_and_leaves_the_nets_unchanged():
    cfg = compose_config("critic=sn")
    g, d = MODELS.build(cfg.model, (2,))
    before = [p.clone() for p in d.parameters()]
    # mlp critic, width 256, depth 3: three Linear+ReLU pairs (6 x 256 outputs) and the last Linear (1)
    assert activations_per_sample(d, (2,)) == 6 * 256 + 1
    assert d.training and all(torch.equal(a, b) for a, b in zip(before, d.parameters()))
    plain = training_step_bytes(g, d, (2,), 2, double_backward=False)
    penalty = training_step_bytes(g, d, (2,), 2, double_backward=True)
    assert plain(2000) > 1.9 * plain(1000) - plain(0) * 2 and penalty(1000) > plain(1000)


@pytest.mark.slow
def test_w1_refuses_an_exact_problem_that_cannot_fit_and_suggests_sliced(tmp_path):
    n = int((host_available() / 44) ** 0.5 * 1.5)  # 2.25x the memory there is
    points = np.random.default_rng(0).random((n, 2), dtype=np.float32)
    np.save(tmp_path / "a.npy", points)
    np.save(tmp_path / "b.npy", points[::-1])
    result = run_cli("w1", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"--method exact: {n} x {n} points need about" in result.stderr and "--method sliced" in result.stderr


@pytest.mark.slow
def test_sample_refuses_a_picture_of_too_many_points_and_streams_arrays(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", "steps=2", "eval.every=0", "model.width=16", f"hydra.run.dir={run}").returncode == 0
    picture = run_cli("sample", str(run), "-n", "100000000", "--out", str(tmp_path / "p.png"))
    assert picture.returncode == 1 and "one picture of more than 200000 points" in picture.stderr
    assert not (tmp_path / "p.png").exists()
    array = run_cli("sample", str(run), "-n", "1000", "--batch", "300", "--out", str(tmp_path / "s.npy"))
    table = run_cli("sample", str(run), "-n", "1000", "--batch", "300", "--out", str(tmp_path / "s.csv"))
    assert array.returncode == 0 and table.returncode == 0
    a, b = np.load(tmp_path / "s.npy"), np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)
    assert a.shape == b.shape == (1000, 2) and np.allclose(a, b, rtol=1e-6)  # written batch by batch, alike
    assert len(np.unique(a[:, 0])) == 1000  # four batches, none repeated


def test_a_real_allocation_failure_is_one_line():
    with pytest.raises(RuntimeError) as caught:
        torch.empty(2**46, dtype=torch.uint8)  # 64 TiB
    line = str(out_of_memory(caught.value))
    assert line.startswith("out of host memory (") and "\n" not in line and "lower batch_size" in line
    assert out_of_memory(ValueError("unrelated")) is None
