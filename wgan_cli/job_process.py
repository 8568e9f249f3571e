"""A joblib sweep's job in a process of its own: a job whose process dies (killed, out of memory,
a native crash) is recorded as failed, and the other jobs go on.

Under ``hydra/launcher=joblib`` each job runs in a loky worker, and a worker that dies breaks the
whole pool: loky ends every other worker, their jobs with them. So the worker does not train: it
starts the job in a child process (``python -m wgan_cli.job_process``: a fresh interpreter, nothing
inherited from the worker's threads), hands it the job's config and Hydra's, forwards stop signals
to it, and waits.
A child that dies leaves ``summary.json`` with ``status: failed`` and the reason; the worker
returns NaN like any failed job, and lives on.
"""

from __future__ import annotations

import copy
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import configure_log
from omegaconf import DictConfig, OmegaConf

from wgan_cli.interrupts import STOP_SIGNALS

log = logging.getLogger("wgan_cli")


def in_joblib_worker() -> bool:
    """Whether this job runs in a loky worker of Hydra's joblib launcher (and not yet in its child)."""
    try:
        target = str(HydraConfig.get().launcher.get("_target_", ""))
    except ValueError:  # not under Hydra
        return False
    return "joblib" in target and not os.environ.get(CHILD)


CHILD = "WGAN_CLI_JOB_PROCESS"  # set in the child: it runs the job itself


def run_in_child(cfg: DictConfig) -> float:
    """Run the job in a child process and return what it returns; NaN, with the job recorded as
    failed, where the child dies without a result. A child that exits (a signal's one line, exit
    128 + the signal) makes the worker exit the same way, as the job would have without a child."""
    state = copy.deepcopy(HydraConfig.instance().cfg)  # the job's hydra node, typed as set_config wants it
    OmegaConf.set_readonly(state, False)
    OmegaConf.set_readonly(state.hydra, False)  # set_config marks the node read-only; the child's does again
    OmegaConf.resolve(state)  # ${now:...} and the job dir's name, as the worker resolved them
    hydra = OmegaConf.to_container(state.hydra)
    with tempfile.TemporaryDirectory(prefix="wgan-cli-job-") as folder:
        job, outcome_file = Path(folder, "job.pkl"), Path(folder, "outcome.pkl")
        job.write_bytes(pickle.dumps((cfg, state)))
        start = time.time()
        child = subprocess.Popen([sys.executable, "-m", "wgan_cli.job_process", str(job), str(outcome_file)],
                                 env={**os.environ, CHILD: "1"})
        previous = {sig: signal.signal(sig, lambda signum, frame: child.send_signal(signum)) for sig in STOP_SIGNALS}
        try:
            child.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        outcome = pickle.loads(outcome_file.read_bytes()) if outcome_file.is_file() else None
    if outcome is None:
        record_death(hydra, child.returncode, child.pid, time.time() - start)
        return float("nan")
    kind, value = outcome
    if kind == "exit":
        raise SystemExit(value)
    if kind == "error":
        raise RuntimeError(f"the job's process failed: {value}")
    return value


def child_main(job: Path, outcome: Path) -> None:
    """The job itself, in the child: Hydra's config and logging as the worker had them, then the run;
    what it returned (or the exit it took) goes to ``outcome``."""
    from wgan_cli.train import run  # lazy: the child imports the run only once it starts

    cfg, state = pickle.loads(job.read_bytes())
    HydraConfig.instance().set_config(state)
    configure_log(state.hydra.job_logging, state.hydra.verbose)
    try:
        result = ("value", float(run(cfg)))
    except SystemExit as ex:  # the one line is said; the worker exits the same way
        result = ("exit", ex.code)
    except BaseException as ex:  # noqa: BLE001 - a bug: the worker raises it, with its text
        outcome.write_bytes(pickle.dumps(("error", f"{type(ex).__name__}: {ex}")))
        raise
    outcome.write_bytes(pickle.dumps(result))


def record_death(hydra: dict[str, Any], exitcode: int | None, pid: int, seconds: float) -> None:
    """``summary.json`` of a job whose process died, failed, with how it died; logged as a failed job."""
    from wgan_cli.sweep import read_summary, write_summary  # lazy: keeps torch out of start-up

    how = (f"killed by {signal.Signals(-exitcode).name}" if exitcode is not None and exitcode < 0
           else f"exit code {exitcode}")
    reason = f"the job's process died ({how}) before it recorded a result; its last checkpoint, if any, is kept"
    run_dir = Path(hydra["runtime"]["output_dir"])
    before = read_summary(run_dir) or {}
    write_summary(run_dir, overrides=list(hydra["overrides"]["task"]), job=hydra["job"]["num"],
                  host=socket.gethostname(), pid=pid, status="failed", reason=reason, steps=before.get("steps", 0),
                  wall_seconds=seconds, final={}, best=before.get("best", {}), time_to_quality=None)
    log.error("job %s failed, the sweep goes on: %s", hydra["job"]["num"], reason)


if __name__ == "__main__":
    child_main(Path(sys.argv[1]), Path(sys.argv[2]))
