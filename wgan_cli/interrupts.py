"""SIGTERM, SIGINT, SIGHUP (a closed terminal, a lost SSH session) and SIGUSR2 (SLURM's warning
before a time limit) during training: the first one asks the loop to stop after the current
step (it then writes ``last.pt`` and exits with 128 + the signal number); a second one exits at
once, saying so (the atomic checkpoint write keeps the previous ``last.pt`` intact even then).

Inside a submitit job (``hydra/launcher=slurm``) the preemption / time-out signal (USR2 unless
``SUBMITIT_PREEMPT_SIGNAL`` says otherwise) is caught the same way instead of SIGTERM, which
submitit ignores: the loop saves ``last.pt`` first, then hands the signal to submitit, which
requeues the job; the requeued job resumes from ``last.pt`` in the same run dir (``resume=auto``).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from wgan_cli.errors import UserError

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR2)
ONE_DELIVERY_S = 1.0  # the same signal again within this time is the same request, not a second one


class Interrupted(UserError):
    """Raised by the loop after it saved ``last.pt`` on a signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


class StopRequests:
    """Context manager: ``.signum`` is set once a SIGTERM / SIGINT arrived (None before)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.since = 0.0  # when the first signal arrived
        self.saved: Path | None = None  # while set, a signal raises at once (``saved_before``)
        self._previous: dict[int, object] = {}
        self.requeue_signal = submitit_preempt_signal()
        # outside submitit, USR2 too: SLURM's warning before a time limit (sbatch --signal=USR2@60)
        self.signals = ((signal.SIGINT, signal.SIGHUP, self.requeue_signal) if self.requeue_signal
                        else STOP_SIGNALS)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum == signum and time.monotonic() - self.since < ONE_DELIVERY_S:
            return  # one signal delivered twice: to the process group, and forwarded by a sweep's main process
        if self.signum is not None:  # the second one: leave now
            name = signal.Signals(signum).name
            os.write(2, f"wgan-cli: error: a second {name}: exited at once, skipping the save; the last "
                        "checkpoint written before it is kept\n".encode())
            os._exit(128 + signum)
        self.signum, self.since = signum, time.monotonic()
        if self.saved is not None:  # the trained state is on disk: stop the phase now
            self.raise_stop()

    def raise_stop(self) -> None:
        name = signal.Signals(self.signum).name
        raise Interrupted(f"{name} during the final evaluation: saved {self.saved} before it; run the same "
                          "command again to finish it", self.signum)

    @contextmanager
    def saved_before(self, path: Path) -> Iterator[None]:
        """Within the block (the final evaluation, probe and FID, after ``path`` was written), a stop
        signal ends the work at once with ``Interrupted`` instead of waiting for the next step,
        which never comes; one that came before the block ends it on entry."""
        self.saved = path
        try:
            if self.signum is not None:
                self.raise_stop()
            yield
        finally:
            self.saved = None

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():  # handlers only work there
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def hand_over_to_requeue(self) -> None:
        """After ``last.pt`` is saved on submitit's preemption signal: call submitit's own handler,
        which requeues the job and exits. Returns when there is nothing to hand over."""
        handler = self._previous.get(self.signum) if self.signum == self.requeue_signal else None
        if callable(handler):
            handler(self.signum, None)


def submitit_preempt_signal() -> int | None:
    """The signal submitit requeues on, when this process is a submitit job; else None."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return None
    return getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"), None)


def pool_workers() -> list[int]:
    """The pids of this process's joblib (loky) workers, from /proc; [] where there is none."""
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and b"popen_loky" in cmdline:
            workers.append(int(stat.parent.name))
    return workers


def forward_to_pool_workers() -> None:
    """In a joblib sweep's main process: a stop signal sent to it alone (``kill PID``) is forwarded
    to the workers, which save ``last.pt`` and stop as a single run does; the same signal sent to
    the whole group reaches them once (``ONE_DELIVERY_S``). A second signal kills the workers and
    exits at once. At exit, the pool is shut down (waiting for the workers' saves): no idle worker
    outlives the sweep."""
    def forward(signum: int, frame: FrameType | None) -> None:
        workers = pool_workers()
        name = signal.Signals(signum).name
        if forwarded:
            os.write(2, f"wgan-cli: error: a second {name}: stopped the sweep's jobs at once, skipping their "
                        "saves; each keeps its last checkpoint\n".encode())
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
            os._exit(128 + signum)
        forwarded.append(signum)
        os.write(2, f"wgan-cli: {name}: asking the sweep's {len(workers)} running job(s) to save and stop\n".encode())
        for pid in workers:
            os.kill(pid, signum)

    forwarded: list[int] = []
    for sig in STOP_SIGNALS:
        signal.signal(sig, forward)
    atexit.register(shut_down_pool)


def shut_down_pool() -> None:
    """End joblib's reusable worker pool now (it would idle for minutes holding each worker's memory),
    after the workers' running jobs have finished."""
    executor = getattr(sys.modules.get("joblib.externals.loky.reusable_executor"), "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True)


class Signalled(BaseException):
    """A stop signal outside the training loop (start-up, the final summary), raised where the
    program is, as Ctrl-C raises KeyboardInterrupt; a BaseException, so no ``except Exception``
    on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        return signal.Signals(self.signum).name


@contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM, SIGHUP and SIGUSR2 raise ``Signalled`` while the run is built (the loop's own
    handlers take over while it trains); under submitit its signals are left to it."""
    if submitit_preempt_signal() is not None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_it(signum: int, frame: FrameType | None) -> None:
        if raised:  # once: a group's signal and its forward, or a second one, while the first is handled
            return
        raised.append(signum)
        raise Signalled(signum)

    raised: list[int] = []

    previous = {sig: signal.signal(sig, raise_it) for sig in STOP_SIGNALS if sig != signal.SIGINT}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
