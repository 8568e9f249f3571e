"""SIGTERM and SIGINT during training: the first one asks the loop to stop after the current
step (it then writes ``last.pt`` and exits with 128 + the signal number); a second one exits at
once (the atomic checkpoint write keeps the previous ``last.pt`` intact even then)."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

from wgan_cli.errors import UserError


class Interrupted(UserError):
    """Raised by the loop after it saved ``last.pt`` on a signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


class StopRequests:
    """Context manager: ``.signum`` is set once a SIGTERM / SIGINT arrived (None before)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # the second one: leave now
            os._exit(128 + signum)
        self.signum = signum

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():  # handlers only work there
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""
