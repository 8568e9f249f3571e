"""The paths inside a run directory, each named once.

    <run dir>/.hydra/            the composed config and overrides (Hydra)
    <run dir>/train.log          the log
    <run dir>/tb/                TensorBoard event files
    <run dir>/checkpoints/       last.pt, best.pt (lowest FID), step_NNNNNNN.pt (checkpoint.keep)
    <run dir>/summary.json       status, overrides, final and best metrics
    <run dir>/.lock              held (flock) by the run training there: host, pid, its .hydra record
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
from pathlib import Path

from wgan_cli.errors import UserError

SUMMARY = "summary.json"


# what checkpoint.save_atomic and sweep.write_summary write before their rename
OUR_TEMP_FILE = re.compile(r"\.(last\.pt|best\.pt|step_\d+\.pt|summary\.json)\.\d+\.tmp")


class RunDirBusy(UserError):
    """Another live process trains in this run dir."""


class RunDir:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.hydra = self.root / ".hydra"
        self.events = self.root / "tb"
        self.checkpoints = self.root / "checkpoints"
        self.last = self.checkpoints / "last.pt"
        self.best = self.checkpoints / "best.pt"
        self.summary = self.root / SUMMARY
        self.lock = self.root / ".lock"

    def read_record(self) -> dict[str, str]:
        """The ``.hydra/*.yaml`` files by name: the record of the run that owns the dir, kept in its
        checkpoints and its lock so that a refused run can put it back."""
        return {p.name: p.read_text() for p in sorted(self.hydra.glob("*.yaml"))} if self.hydra.is_dir() else {}

    def write_record(self, record: dict[str, str] | None) -> None:
        """Put a ``.hydra`` record back: Hydra rewrites it before a run that is then refused."""
        for name, text in (record or {}).items():
            (self.hydra / name).write_text(text)

    def stale_temp_files(self) -> list[Path]:
        """Temporary files of this tool's writes killed midway, by their exact names
        (``.last.pt.<pid>.tmp``, ``.summary.json.<pid>.tmp``, ...): a user's ``.notes.tmp`` stays."""
        return [p for folder in (self.root, self.checkpoints) if folder.is_dir() for p in folder.glob(".*.tmp")
                if OUR_TEMP_FILE.fullmatch(p.name)]


class RunDirLock:
    """An exclusive ``flock`` on ``<run dir>/.lock`` for as long as a run trains there. The kernel
    releases it when the holder exits, however it dies, so a lock is never stale. The file holds
    the holder's host, pid and ``.hydra`` record: a refused run puts that record back after
    Hydra rewrote it."""

    def __init__(self, run_dir: Path, hydra_record: dict[str, str]) -> None:
        self.dir = RunDir(run_dir)
        self.record = hydra_record
        self.fd: int | None = None

    def acquire(self) -> None:
        self.dir.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir.lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = self.holder(fd)
            os.close(fd)
            self.dir.write_record(holder.get("hydra_record"))
            raise RunDirBusy(f"{self.dir.root}: another run is training there (host {holder.get('host', '?')}, "
                             f"pid {holder.get('pid', '?')}); wait for it to end, or choose another hydra.run.dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "hydra_record": self.record}).encode())
        self.fd = fd

    @staticmethod
    def held(run_dir: Path) -> bool:
        """Whether a live process holds the run dir's lock now (a run training there)."""
        path = RunDir(run_dir).lock
        if not path.is_file():
            return False
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except OSError:
            return True
        finally:
            os.close(fd)  # releases the probe's own lock

    @staticmethod
    def holder(fd: int) -> dict:
        try:
            return json.loads(os.pread(fd, 1 << 20, 0) or b"{}")
        except ValueError:
            return {}

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None
