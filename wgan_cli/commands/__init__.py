"""The subcommands besides ``train`` (``fid``, ``w1``, ``sample``, ``report``): one module each,
a thin layer of argparse over functions. ``run_command`` gives all of them the same errors."""

from __future__ import annotations

from typing import Any, Callable


def run_command(body: Callable[[], Any]) -> Any:
    """Run a subcommand's work. Bad input (a ``UserError``, a config error from Hydra or OmegaConf,
    a file the system refuses) ends in one ``wgan-cli: error: ...`` line and exit 2 (usage) or 1;
    anything else is a bug and keeps its traceback, as does everything under ``HYDRA_FULL_ERROR=1``."""
    from wgan_cli.errors import UserError, out_of_memory  # lazy: keeps torch out of start-up
    from wgan_cli.reporting import full_errors_wanted, is_config_error, report  # lazy: keeps torch out of start-up

    try:
        return body()
    except Exception as ex:  # noqa: BLE001 - sorted below: one line, or re-raised
        ex = out_of_memory(ex) or ex
        one_line = isinstance(ex, UserError) or is_config_error(ex) or (isinstance(ex, OSError) and ex.filename)
        if full_errors_wanted() or not one_line:
            raise
        report(ex)
