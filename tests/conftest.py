"""The tests' fixtures: a trainer factory, test-only registrations taken back after the test, tiny
CIFAR-10 files, a small disk; and guards every test runs under. Plain helpers are in helpers.py."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import CLI, compose_config, write_cifar10

from wgan_cli.training import Trainer

# A suite started in the background by a non-interactive shell (`make test &`, `nohup ... &`)
# inherits SIGINT ignored, and so would every wgan-cli it starts: a test's Ctrl-C would never
# arrive. Give the suite Python's own handler, which its children start with again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def make_trainer(tmp_path):
    """``make_trainer(*overrides, run_dir=None)``: a ``Trainer`` of the composed config, its run
    dir ``tmp_path`` (or ``run_dir``, relative to it)."""

    def make(*overrides: str, run_dir: str | Path | None = None) -> Trainer:
        return Trainer(compose_config(*overrides), tmp_path / run_dir if run_dir is not None else tmp_path)

    return make


@pytest.fixture
def cifar_root(tmp_path, monkeypatch) -> Path:
    """Tiny CIFAR-10 files; only torchvision's md5 check is patched (tiny files cannot match it)."""
    import torchvision.datasets.cifar as cifar

    monkeypatch.setattr(cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(cifar, "check_integrity", lambda *args, **kwargs: True)
    write_cifar10(tmp_path)
    return tmp_path


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
