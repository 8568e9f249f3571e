"""Helpers the tests share: compose configs with Hydra's compose API, run the real CLI in a
subprocess, read TensorBoard event files with TensorBoard's own EventAccumulator, write tiny
data sets in the formats torchvision's loaders read. Fixtures are in conftest.py."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import wgan_cli.train  # registers every component and schema; composes configs

CLI = str(Path(sys.executable).with_name("wgan-cli"))  # the installed entry point, beside this python
if not Path(CLI).exists():
    CLI = shutil.which("wgan-cli") or CLI  # a python without the project installed (a lent GPU machine)
ROOT = Path(__file__).resolve().parents[1]  # the repository
FAST = ["model.width=32", "batch_size=32", "eval.n=64", "log_every=1"]


def compose_config(*overrides: str):
    return wgan_cli.train.compose_config(list(overrides))


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    environment.update(env or {})
    return subprocess.run(
        [CLI, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout
    )


def job_dir(sweep: Path, number: int) -> Path:
    """A sweep job's run dir: ``<number>_<the overrides the sweep varies>``."""
    (found,) = [p for p in sweep.iterdir() if p.name == str(number) or p.name.startswith(f"{number}_")]
    return found


def event_accumulator(run_dir: Path) -> EventAccumulator:
    """The run's TensorBoard events (``tb/``), every scalar and image kept."""
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] from the run's TensorBoard event files."""
    acc = event_accumulator(run_dir)
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def bracket_series(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """sub-run -> [(step, value)]: the W1 chart's series, each in its own sub-run tb/<name>."""
    out = {}
    for sub in sorted(p for p in (run_dir / "tb").iterdir() if p.is_dir()):
        acc = EventAccumulator(str(sub), size_guidance={"scalars": 0})
        acc.Reload()
        out[sub.name] = [(e.step, e.value) for e in acc.Scalars("w1/bracket")]
    return out


def wait_until_logged(run_dir: Path, process: subprocess.Popen, step: int, tag: str = "loss/critic",
                      timeout: float = 240) -> None:
    """Wait until the run's events hold ``tag`` at a step >= ``step`` (the run is training, its
    signal handlers installed): an event to wait on rather than a guess at how long start-up takes.
    ``timeout`` only bounds a run that never gets there."""
    deadline = time.monotonic() + timeout
    while not (run_dir / "tb").is_dir() or not any(s >= step for s, _ in scalars(run_dir).get(tag, [])):
        assert process.poll() is None, f"the run ended before step {step}: {process.communicate()}"
        assert time.monotonic() < deadline, f"{tag} never reached step {step} in {timeout} s"
        time.sleep(0.5)


def write_cifar10(root: Path, per_batch: int = 4) -> np.ndarray:
    """The pickled python batches of CIFAR-10: dicts with 'data' [N, 3072] (R, G, B planes) and 'labels'."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (5 * per_batch, 3072), dtype=np.uint8)
    for i in range(5):
        batch = {"data": data[i * per_batch:(i + 1) * per_batch], "labels": [0] * per_batch}
        (folder / f"data_batch_{i + 1}").write_bytes(pickle.dumps(batch))
    (folder / "test_batch").write_bytes(pickle.dumps({"data": data[:2], "labels": [0, 0]}))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    return data.reshape(-1, 3, 32, 32)


# GP (randomness in the penalty), EMA, linear decay: every piece of state a resume must restore
STATEFUL_RUN = ["critic=gp", "ema.decay=0.9", "optim.decay=linear", "model.width=32", "batch_size=32",
       "eval.every=25", "eval.n=64", "log_every=1", "checkpoint.every=10"]


def tensors(state, prefix: str = ""):  # noqa: ANN001, ANN201
    """Every tensor in a (nested) checkpoint, by path."""
    if isinstance(state, torch.Tensor):
        yield prefix, state
    elif isinstance(state, dict):
        for k, v in state.items():
            yield from tensors(v, f"{prefix}/{k}")
    elif isinstance(state, (list, tuple)):
        for i, v in enumerate(state):
            yield from tensors(v, f"{prefix}/{i}")


def start(run_dir: Path, *overrides: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.Popen([CLI, "train", *overrides, f"hydra.run.dir={run_dir}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def png_folder(folder: Path, n: int = 40) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


CPU = torch.device("cpu")


def build_data(name: str, **values):  # noqa: ANN201 - a DataSource
    """The data source of ``data=name`` with ``values`` over its schema's defaults, on the CPU."""
    from wgan_cli.data import DATASETS

    return DATASETS.build(DATASETS.config(name, **values), CPU)


def write_png(image: torch.Tensor, path: str) -> None:
    """uint8 [3, H, W] -> a PNG file."""
    from PIL import Image

    Image.fromarray(image.permute(1, 2, 0).numpy()).save(path)
