"""Errors as the user sees them: one line, a non-zero exit, no traceback.

Hydra prints composition errors over several lines followed by a hint about
``HYDRA_FULL_ERROR``. ``install_one_line_errors`` swaps Hydra's reporter for one that
writes a single ``wgan-cli: error: ...`` line; ``HYDRA_FULL_ERROR=1`` still shows the
full traceback. Above the config (a misspelt key is answered with the keys the schema has).
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, Callable

import hydra._internal.hydra as hydra_mod
import hydra._internal.utils as utils_mod
from hydra.errors import HydraException, MissingConfigException
from omegaconf.errors import OmegaConfBaseException

from wgan_cli.errors import EXIT_FAILURE, EXIT_USAGE
from wgan_cli.validation import no_such_key

# configs that optional extras bring (hydra/launcher=slurm and hparams_search=optuna name them too)
PLUGIN_EXTRAS = {
    "hydra/launcher/joblib": "joblib",
    "hydra/launcher/submitit_slurm": "slurm",
    "hydra/launcher/submitit_local": "slurm",
    "hydra/sweeper/optuna": "optuna",
}


def one_line(ex: BaseException) -> str:
    """Condense Hydra / OmegaConf / our own exception messages into one readable line."""
    if isinstance(ex, MissingConfigException) and ex.missing_cfg_file in PLUGIN_EXTRAS:
        group, _, option = ex.missing_cfg_file.rpartition("/")
        return (f"{group}={option} comes from a Hydra plugin that is not installed: "
                f"pip install 'wgan-cli[{PLUGIN_EXTRAS[ex.missing_cfg_file]}]'")
    if isinstance(ex, MissingConfigException) and ex.options and ex.missing_cfg_file:
        group, _, option = ex.missing_cfg_file.rpartition("/")
        if group:
            return f"{group}={option}: no such option; choose one of {', '.join(ex.options)}"
    if isinstance(ex, OSError) and ex.filename:
        return f"{ex.filename}: {ex.strerror}"
    cause = ex.__cause__
    if "Unable to configure handler" in str(ex) and isinstance(cause, OSError) and cause.filename:
        return (f"{cause.filename}: {cause.strerror}; the run's log cannot be written there: choose a run dir you "
                "can write (hydra.run.dir, or hydra.sweep.dir for -m)")
    text = str(ex)
    unknown = re.match(r"Could not override '([^']+)'", text)
    if unknown and "To append to your config" in text:  # Hydra: a key no schema declares
        schema = re.search(r"not in '(\w+)'", f"{text} {ex.__cause__}")
        return str(no_such_key(unknown.group(1), schema=schema.group(1) if schema else None))
    cause = ex.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}\n{cause}"
    return _condense(text)


def _condense(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith(("object_type=", "Config search path"))]
    full_key = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("full_key:")), None)
    lines = [ln for ln in lines if not ln.startswith(("full_key:", "reference_type=", "Set the environment"))]
    # "Available options in 'critic':" followed by the options, one per line
    joined = "; ".join(lines)
    joined = re.sub(r"Available options in '([^']+)':;\s*", r"available options for \1: ", joined)
    if full_key and full_key not in joined:
        joined = f"{full_key}: {joined}"
    return joined


def report(ex: BaseException) -> None:
    """Print ``ex`` as one line on stderr and exit with its exit code."""
    code = getattr(ex, "exit_code", EXIT_USAGE if is_config_error(ex) else EXIT_FAILURE)
    sys.stderr.write(f"wgan-cli: error: {one_line(ex)}\n")
    sys.stderr.flush()
    sys.exit(code)


def is_config_error(ex: BaseException) -> bool:
    return isinstance(ex, (HydraException, OmegaConfBaseException))


def full_errors_wanted() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR", "") not in ("", "0")


def run_and_report(func: Callable[[], Any]) -> Any:
    """Drop-in for ``hydra._internal.utils.run_and_report`` that reports in one line."""
    try:
        return func()
    except Exception as ex:  # noqa: BLE001 - every error is reported, none is swallowed
        if full_errors_wanted():
            raise
        report(ex)


def install_one_line_errors() -> None:
    """Make Hydra report every error through :func:`run_and_report`.

    Hydra has no public hook for this; it looks ``run_and_report`` up as a module global at
    call time, so replacing it in both modules that use it is enough (tested in
    tests/test_cli.py against the installed Hydra).
    """
    utils_mod.run_and_report = run_and_report
    hydra_mod.run_and_report = run_and_report
