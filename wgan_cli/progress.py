"""Progress of long work that is not a training step: a count, a rate and the time left, as a
tqdm bar on a terminal and as a log line at least every ten seconds (FID features, the probe's
fit, a critic's fit, reading a sweep, drawing samples). A leaf: it imports nothing of the package."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("wgan_cli")


class Progress:
    """How far long work is: ``done`` of ``total`` ``unit``s, the rate and the time left, as a tqdm
    bar on a terminal (``bar``) and as a log line at least every ``every`` seconds: said at the
    last advance before ``every`` would pass, judged by how long the last one took."""

    every = 10.0

    def __init__(self, what: str, total: int, done: int = 0, bar: bool = True, unit: str = "img") -> None:
        from tqdm import tqdm  # lazy: tqdm loads only where it is used

        self.what, self.total, self.done, self.first, self.unit = what, total, done, done, unit
        self.start = self.said = self.last = time.monotonic()
        self.bar = tqdm(total=total, initial=done, desc=what, unit=unit, disable=None if bar else True,
                        leave=False, file=sys.stderr)

    def advance(self, n: int = 1) -> None:
        self.done += n
        self.bar.update(n)
        now = time.monotonic()
        step, self.last = now - self.last, now
        if now - self.said + step >= self.every:  # the next line would come too late: say it now
            self.said = now
            rate = (self.done - self.first) / max(now - self.start, 1e-9)
            left = (self.total - self.done) / rate if rate > 0 else float("inf")
            log.info("%s: %d/%d (%.0f%%), %.1f %s/s, about %s left", self.what, self.done, self.total,
                     100 * self.done / max(self.total, 1), rate, self.unit, duration(left))

    def close(self) -> None:
        self.bar.close()


def duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "an unknown time"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
