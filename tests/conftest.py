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


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] from the run's TensorBoard event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def event_accumulator(run_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


@pytest.fixture(scope="session")
def cli() -> str:
    assert Path(CLI).exists(), f"the console script is not installed next to {sys.executable}"
    return CLI
