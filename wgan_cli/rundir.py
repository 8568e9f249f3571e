"""The paths inside a run directory, each named once.

    <run dir>/.hydra/            the composed config and overrides (Hydra)
    <run dir>/train.log          the log
    <run dir>/tb/                TensorBoard event files
    <run dir>/checkpoints/       last.pt, best.pt (lowest FID), step_NNNNNNN.pt (checkpoint.keep)
    <run dir>/summary.json       status, overrides, final and best metrics
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunDir:
    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def hydra(self) -> Path:
        return self.root / ".hydra"

    @property
    def events(self) -> Path:
        return self.root / "tb"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"
