"""The subcommands besides ``train`` (``fid``, ``w1``, ``sample``, ``report``): one module each,
a thin layer of argparse over functions. ``run_command`` gives all of them the same errors."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any, Callable

EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # what a Unix tool killed by SIGPIPE reports (141)


def seed(text: str) -> int:
    """``--seed``'s type: a whole number in the range every seeded stream takes (argparse's one line
    otherwise)."""
    from wgan_cli.config import MAX_SEED  # lazy: hydra's config store loads only where a seed is given

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not a whole number") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{text}: choose a seed in [0, {MAX_SEED}] (2**32 - 1)")
    return value


def run_command(body: Callable[[], Any]) -> Any:
    """Run a subcommand's work, printing included. Bad input (a ``UserError``, a config error from
    Hydra or OmegaConf, a file the system refuses) ends in one ``wgan-cli: error: ...`` line and
    exit 2 (usage) or 1; anything else is a bug and keeps its traceback, as does everything under
    ``HYDRA_FULL_ERROR=1``. SIGINT, SIGTERM, SIGHUP and SIGUSR2 end it in one line with exit
    128 + the signal (an output being written is left as it was: every write is atomic); a closed
    pipe (``| head``) ends it quietly with 141, as Unix tools do."""
    from wgan_cli.errors import UserError, out_of_memory  # lazy: keeps torch out of start-up
    from wgan_cli.interrupts import Signalled, signals_raise  # lazy: keeps torch out of start-up
    from wgan_cli.reporting import full_errors_wanted, is_config_error, report  # lazy: keeps torch out of start-up

    try:
        with signals_raise():
            result = body()
            sys.stdout.flush()  # a closed pipe shows here, not at exit
            return result
    except BrokenPipeError:
        quiet_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except (KeyboardInterrupt, Signalled) as ex:
        if full_errors_wanted():
            raise
        signum = getattr(ex, "signum", signal.SIGINT)
        sys.stderr.write(f"wgan-cli: {signal.Signals(signum).name}: stopped; an output not yet complete was "
                         "not written, and one that existed is as it was\n")
        sys.exit(128 + signum)
    except Exception as ex:  # noqa: BLE001 - sorted below: one line, or re-raised
        ex = out_of_memory(ex) or ex
        one_line = isinstance(ex, UserError) or is_config_error(ex) or (isinstance(ex, OSError) and ex.filename)
        if full_errors_wanted() or not one_line:
            raise
        report(ex)


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush at exit finds no closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
