"""What a run records as it trains, beside its networks and random streams: the best values, when
it met its quality bar, the readings behind ``critic_tracks_quality`` and its training seconds.
One object, saved in every checkpoint (``state_dict``) and put back by a resume."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Records:
    best: dict[str, float] = field(default_factory=dict)  # the lowest w1/exact and FID over the evaluations so far
    quality: dict[str, float] = field(default_factory=dict)  # step and training seconds at which the run met its bar
    history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # tag -> (step, value) at each reading
    seconds_before: float = 0.0  # training seconds of earlier attempts (a resumed run)
    started: float | None = None  # this attempt's start (time.perf_counter), once training began

    def elapsed(self) -> float:
        """Training seconds so far, earlier attempts of a resumed run included."""
        return self.seconds_before + (time.perf_counter() - self.started if self.started is not None else 0.0)

    def keep_best(self, tag: str, value: float) -> bool:
        """Keep ``value`` if it is the lowest ``tag`` so far; True when it is."""
        if value < self.best.get(tag, float("inf")):
            self.best[tag] = value
            return True
        return False

    def note_quality(self, step: int, met: bool) -> None:
        """The first evaluation that meets the quality bar: its step and training seconds."""
        if met and not self.quality:
            self.quality = {"step": step, "seconds": round(self.elapsed(), 3)}

    def remember(self, step: int, values: dict[str, float], tags: tuple[str, ...]) -> None:
        """Keep the critic's estimate and the quality references of this reading (the summary's
        ``critic_tracks_quality``)."""
        for tag in tags:
            if tag in values:
                self.history.setdefault(tag, []).append((step, float(values[tag])))

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "quality": self.quality,
                "history": {tag: [list(point) for point in points] for tag, points in self.history.items()},
                "seconds": self.elapsed()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """What ``state_dict`` saved; a checkpoint from before a key existed leaves it empty."""
        self.best = dict(state.get("best", {}))
        self.quality = dict(state.get("quality", {}))
        self.history = {tag: [(int(step), float(v)) for step, v in points] for tag, points in state.get("history", {}).items()}
        self.seconds_before = float(state.get("seconds", 0.0))
