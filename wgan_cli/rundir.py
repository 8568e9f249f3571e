"""The paths inside a run directory, each named once.

    <run dir>/.hydra/            the composed config and overrides (Hydra)
    <run dir>/train.log          the log
    <run dir>/tb/                TensorBoard event files
    <run dir>/checkpoints/       last.pt, best.pt (lowest FID), step_NNNNNNN.pt (checkpoint.keep)
    <run dir>/summary.json       status, overrides, final and best metrics
"""

from __future__ import annotations

from pathlib import Path

SUMMARY = "summary.json"


class RunDir:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.hydra = self.root / ".hydra"
        self.events = self.root / "tb"
        self.checkpoints = self.root / "checkpoints"
        self.last = self.checkpoints / "last.pt"
        self.best = self.checkpoints / "best.pt"
        self.summary = self.root / SUMMARY
