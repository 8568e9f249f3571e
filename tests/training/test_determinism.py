"""The same seed gives the same run: events and weights."""

from __future__ import annotations


import pytest
import torch

from helpers import STATEFUL_RUN, run_cli, scalars, tensors


@pytest.mark.slow
def test_the_same_seed_gives_identical_events_and_weights(tmp_path):
    runs = [tmp_path / "a", tmp_path / "b"]
    for run in runs:
        assert run_cli("train", *STATEFUL_RUN, "steps=20", "seed=7", f"hydra.run.dir={run}").returncode == 0
    assert scalars(runs[0]) == scalars(runs[1])
    a, b = (torch.load(r / "checkpoints" / "last.pt", weights_only=True) for r in runs)
    for (name, x), (_, y) in zip(tensors(a["generator"]), tensors(b["generator"])):
        assert torch.equal(x, y), name
    other = tmp_path / "c"
    assert run_cli("train", *STATEFUL_RUN, "steps=20", "seed=8", f"hydra.run.dir={other}").returncode == 0
    assert scalars(other)["loss/critic"] != scalars(runs[0])["loss/critic"]
