"""The CUDA path: training steps that never wait for the host, memory that stays flat, and a run
through the CLI (the penalty under CUDA autocast: tests/test_performance.py).

These run only where a CUDA device is present (a lent GPU machine; CI has none, so they skip
there). Speed is measured by scripts/bench_train.py, not here.
"""

from __future__ import annotations

import pytest
import torch

from helpers import compose_config, run_cli, scalars
from wgan_cli.cuda_graphs import WARMUP, lr_on_device
from wgan_cli.training import Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (CI has none)")

DIGITS32 = ["data=digits", "data.size=32", "fid.every=0"]
CASES = {
    "toy_gp": ["experiment=toy_wgan_gp", "model.width=128"],
    "demo_ema": ["ema.decay=0.999"],  # sn_ttur, the EMA generator updated every step
    "cnn32_gp_bf16": ["model=cnn32", "critic=gp", "batch_size=32", "train.amp=bf16", *DIGITS32],
    "cnn32_sn": ["model=cnn32", "critic=sn", "batch_size=32", *DIGITS32],
    "resnet32_clip": ["model=resnet32", "critic=clip", "batch_size=16", "model.d_channels=32", "model.g_channels=32",
                      *DIGITS32],
}


@pytest.fixture
def deterministic_restored():
    """``deterministic=true`` turns PyTorch's deterministic algorithms on for the whole process."""
    yield
    torch.use_deterministic_algorithms(False)


def cuda_trainer(tmp_path, *overrides: str) -> Trainer:
    cfg = compose_config(*overrides, "device=cuda", "eval.every=0", "checkpoint.every=0", "resume=never")
    return Trainer(cfg, tmp_path)


@pytest.mark.parametrize("graph", [True, False], ids=["graph", "eager"])
@pytest.mark.parametrize("name", CASES)
def test_training_steps_never_wait_for_the_host(name, graph, tmp_path):
    """No device-to-host copy or synchronization inside a generator step (the NaN guard and the
    logged losses stay on the device until a log step): the GPU runs ahead of Python."""
    trainer = cuda_trainer(tmp_path, *CASES[name], f"train.cuda_graph={graph}")
    assert (trainer.graph_off is None) == graph
    for _ in range(WARMUP + 1):  # lazy init (cuBLAS / cuDNN handles, autotuning) and the capture synchronize
        trainer.train_step()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            stats = trainer.train_step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(v.is_cuda for v in stats.values())
    assert trainer.watch is not None and len(trainer.watch.index) > 0  # checked later, at a log step
    assert trainer.watch.first_bad() is None


def test_cuda_memory_is_flat_over_a_long_run(tmp_path):
    """Allocated CUDA memory after each of 300 steps: nothing a step keeps grows (the NaN guard's
    loss buffer has a fixed size), so the late steps hold no more than the early ones."""
    cfg = compose_config("model=cnn32", "critic=gp", "batch_size=32", *DIGITS32, "device=cuda", "steps=300",
                         "log_every=10", "eval.every=0", "checkpoint.every=100")
    trainer = Trainer(cfg, tmp_path)
    allocated: list[int] = []
    step = trainer.train_step

    def recorded_step():  # noqa: ANN202
        stats = step()
        allocated.append(torch.cuda.memory_allocated())
        return stats

    trainer.train_step = recorded_step
    trainer.fit()
    assert len(allocated) == 300
    early, late = max(allocated[50:150]), max(allocated[200:300])
    assert late - early < 64 * 1024, f"CUDA memory grew from {early} to {late} bytes"


def test_a_cuda_run_through_the_cli(tmp_path):
    result = run_cli("train", "device=cuda", "model=cnn32", "critic=sn", "batch_size=32", *DIGITS32,
                     "steps=40", "log_every=5", "eval.every=20", "eval.n=128", "train.amp=bf16",
                     f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    tags = scalars(tmp_path)
    assert [s for s, _ in tags["loss/critic"]] == list(range(5, 45, 5))
    assert all(torch.isfinite(torch.tensor([v for _, v in tags[t]])).all() for t in tags)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)
    assert state["step"] == 40 and state["config"]["device"]["name"] == "cuda"


@pytest.mark.parametrize("name", CASES)
def test_a_graphed_step_takes_the_eager_steps(name, tmp_path, deterministic_restored):
    """Replaying the captured step trains exactly as eager steps do: the same random numbers (the
    training generator's offset advances per replay), learning rates that follow the linear decay
    (the schedulers fill the optimizers' lr tensors), the EMA, BatchNorm and SN buffers, the same
    weights and the same NaN-guard entries after steps before, at and after the capture.

    Deterministic kernels on both sides (otherwise cuDNN's atomics make two eager runs differ), and
    the eager side's optimizers capturable too: PyTorch's capturable RMSprop rounds differently
    (it divides by -lr instead of multiplying), which RMSprop's normalization of the clip critic's
    tiny gradients lifts to 1% in the weights within 8 steps."""
    overrides = [*CASES[name], "optim.decay=linear", "steps=12", "deterministic=true"]
    graphed = cuda_trainer(tmp_path / "graph", *overrides, "train.cuda_graph=true")
    eager = cuda_trainer(tmp_path / "eager", *overrides, "train.cuda_graph=false")
    assert graphed.graph_off is None and eager.graph_off.startswith("train.cuda_graph=false")
    for opt in (eager.nets.opt_g, eager.nets.opt_d):
        lr_on_device(opt)
    for step in range(8):
        a, b = graphed.train_step(), eager.train_step()
        for tag in b:
            torch.testing.assert_close(a[tag], b[tag], rtol=1e-5, atol=1e-7,
                                       msg=lambda m, tag=tag, step=step: f"{tag} at step {step + 1}: {m}")
    assert graphed.run_updates.graph is not None
    assert torch.equal(graphed.state.rng.get_state(), eager.state.rng.get_state())
    assert float(graphed.nets.opt_d.param_groups[0]["lr"]) == pytest.approx(float(eager.nets.opt_d.param_groups[0]["lr"]), rel=1e-6)
    assert float(eager.nets.opt_d.param_groups[0]["lr"]) < eager.cfg.optim.lr_d  # the decay moved it
    mine, theirs = graphed.state_dict(), eager.state_dict()
    for part in ("generator", "critic"):
        for key, value in theirs[part].items():
            torch.testing.assert_close(mine[part][key], value, rtol=1e-5, atol=1e-7,
                                       msg=lambda m, key=f"{part}.{key}": f"{key}: {m}")
    if eager.nets.ema is not None:
        for x, y in zip(graphed.nets.ema.parameters(), eager.nets.ema.parameters(), strict=True):
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-7)
    assert graphed.watch.index == eager.watch.index and len(eager.watch.index) > 0
    assert graphed.watch.first_bad() is None and eager.watch.first_bad() is None


def test_a_graphed_runs_checkpoint_resumes_on_the_cpu(tmp_path):
    """Checkpoints hold float learning rates and non-capturable optimizer groups: a CUDA graph run
    resumes on the CPU (and the CPU run's checkpoint back on CUDA, graphed)."""
    common = ["experiment=toy_wgan_gp", "model.width=64", "optim.decay=linear", "eval.every=0", "log_every=5"]
    result = run_cli("train", *common, "device=cuda", "train.cuda_graph=true", "steps=10", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert "CUDA graph: on" in (tmp_path / "train.log").read_text()
    state = torch.load(tmp_path / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)
    group = state["opt_d"]["param_groups"][0]
    assert isinstance(group["lr"], float) and group["capturable"] is False
    for device, steps in (("cpu", 15), ("cuda", 20)):
        result = run_cli("train", *common, f"device={device}", f"train.cuda_graph={str(device == 'cuda').lower()}",
                         f"steps={steps}", f"hydra.run.dir={tmp_path}")
        assert result.returncode == 0, result.stderr
        assert f"last.pt at step {steps - 5}" in (tmp_path / "train.log").read_text()  # resumed there
        state = torch.load(tmp_path / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)
        assert state["step"] == steps
        assert state["opt_d"]["param_groups"][0]["lr"] == 0.0  # the linear decay reaches zero at the last step
    assert [s for s, _ in scalars(tmp_path)["loss/critic"]] == list(range(5, 25, 5))
