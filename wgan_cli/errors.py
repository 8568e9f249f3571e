"""The tool's exceptions: each is reported as one line with its exit code (wgan_cli/reporting.py
prints them). A leaf: it imports nothing of the package."""

from __future__ import annotations

import errno
from typing import Any

EXIT_USAGE = 2  # bad config or bad input, as argparse does
EXIT_FAILURE = 1  # the run itself failed


class UserError(Exception):
    """An error caused by the user's input, reported as one line."""

    exit_code = EXIT_FAILURE


class ConfigError(UserError, ValueError):
    """An invalid config value; the message starts with the offending ``key=value``."""

    exit_code = EXIT_USAGE


class DataError(UserError):
    """Data that is missing, empty, unreadable or fails to decode."""


class WriteError(UserError):
    """An output that could not be written (a full disk, a quota, a read-only file system)."""


class OutOfMemory(UserError):
    """The host or a GPU ran out of memory despite the estimates checked before the work."""


def out_of_memory(ex: BaseException) -> OutOfMemory | None:
    """``ex`` as one line when it is an out-of-memory error (CUDA's, the CPU allocator's, Python's)."""
    text = str(ex)
    cuda = type(ex).__name__ == "OutOfMemoryError" or "CUDA out of memory" in text
    host = isinstance(ex, MemoryError) or "can't allocate memory" in text or "DefaultCPUAllocator" in text
    if not (cuda or host):
        return None
    where = "GPU" if cuda else "host"
    first = text.strip().splitlines()[0] if text.strip() else type(ex).__name__
    return OutOfMemory(f"out of {where} memory ({first[:160]}); lower batch_size, eval.n or the model's width")


def write_failed(ex: OSError, path: Any, consequence: str = "") -> WriteError:
    """``no space left on device writing PATH; CONSEQUENCE`` (or the OS's own words for other errors)."""
    what = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
            errno.EROFS: "read-only file system"}.get(ex.errno, ex.strerror or str(ex))
    return WriteError(f"{what} writing {path}" + (f"; {consequence}" if consequence else ""))
