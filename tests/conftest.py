"""Shared helpers: compose configs with Hydra's compose API, run the real CLI in a subprocess,
read TensorBoard event files with TensorBoard's own EventAccumulator."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import wgan_cli.train  # registers every component and schema; composes configs

CLI = str(Path(sys.executable).with_name("wgan-cli"))  # the installed entry point, beside this python
if not Path(CLI).exists():
    CLI = shutil.which("wgan-cli") or CLI  # a python without the project installed (a lent GPU machine)
FAST = ["model.width=32", "batch_size=32", "eval.n=64", "log_every=1"]


def compose_config(*overrides: str):
    return wgan_cli.train.compose_config(list(overrides))


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    environment.update(env or {})
    return subprocess.run(
        [CLI, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def register():
    """``register(registry, name, schema, obj)``: a test-only option (a task, a critic, ...) for
    one test; taken back from the registry and Hydra's ConfigStore after it."""
    added = []

    def add(registry, name: str, schema: type, obj):  # noqa: ANN001, ANN202
        registry.register(name, schema)(obj)
        added.append((registry, name))
        return obj

    yield add
    for registry, name in added:
        registry.remove(name)


def job_dir(sweep: Path, number: int) -> Path:
    """A sweep job's run dir: ``<number>_<the overrides the sweep varies>``."""
    (found,) = [p for p in sweep.iterdir() if p.name == str(number) or p.name.startswith(f"{number}_")]
    return found


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] from the run's TensorBoard event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def bracket_series(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """sub-run -> [(step, value)]: the W1 chart's series, each in its own sub-run tb/<name>."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

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
    import time

    deadline = time.monotonic() + timeout
    while not (run_dir / "tb").is_dir() or not any(s >= step for s, _ in scalars(run_dir).get(tag, [])):
        assert process.poll() is None, f"the run ended before step {step}: {process.communicate()}"
        assert time.monotonic() < deadline, f"{tag} never reached step {step} in {timeout} s"
        time.sleep(0.5)


def event_accumulator(run_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


@pytest.fixture(scope="session")
def cli() -> str:
    assert Path(CLI).exists(), f"the console script is not installed next to {sys.executable}"
    return CLI


@pytest.fixture(autouse=True)
def own_thread_count():
    """A Trainer sets torch's thread count by the policy (wgan_cli/threads.py) for the process; each
    test starts from torch's own count, so one test's choice never carries into the next."""
    import torch

    before = torch.get_num_threads()
    yield
    if torch.get_num_threads() != before:
        torch.set_num_threads(before)


@pytest.fixture(scope="session", autouse=True)
def outputs_stay_untouched():
    """Tests write under temporary dirs only: the clone's outputs/ is the user's."""
    outputs = Path(__file__).resolve().parents[1] / "outputs"
    before = set(outputs.rglob("*")) if outputs.is_dir() else set()
    yield
    added = (set(outputs.rglob("*")) if outputs.is_dir() else set()) - before
    assert not added, f"tests wrote into {outputs}: {sorted(str(p) for p in added)[:5]}"


@pytest.fixture
def small_disk(tmp_path):
    """A 600 KB tmpfs: a real file system that runs out of space (needs root, as in CI's container)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)
