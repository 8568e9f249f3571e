"""``wgan-cli train``: the Hydra app that composes ``configs/`` and runs the trainer."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.hydra import Hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.object_type import ObjectType
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

# the config schemas, torch-free: composing (help, completion, --cfg) needs nothing else
import wgan_cli.config  # noqa: F401
from wgan_cli.errors import UserError, out_of_memory
from wgan_cli.plugins import load_plugins
from wgan_cli.reporting import (full_errors_wanted, install_one_line_errors, is_config_error, one_line, report,
                                run_and_report)
from wgan_cli.rundir import RunDir, RunDirBusy, RunDirLock
from wgan_cli.schema import compose_config, share_config_store  # noqa: F401 (compose_config: for scripts)
from wgan_cli.validation import validate

CONFIG_PATH = "pkg://wgan_cli.configs"
log = logging.getLogger("wgan_cli")


def _job_dir_name() -> str:
    from wgan_cli.sweep import job_dir_name  # lazy: keeps torch out of start-up

    return job_dir_name()


# hydra.sweep.subdir names a job's dir by its overrides (and what its sweep varies); registered on
# import, which every launcher's job process does (joblib and submitit workers unpickle ``train`` from here)
OmegaConf.register_new_resolver("sweep_job_dir", _job_dir_name, replace=True)


@hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="config")
def train(cfg: DictConfig) -> float:
    """One run. A sweep job of several submitit tasks (``hydra.launcher.tasks_per_node=N``) is one
    data-parallel run over them, as under torchrun."""
    from wgan_cli import distributed  # lazy: keeps torch out of start-up
    from wgan_cli.job_process import in_joblib_worker, run_in_child  # lazy: keeps torch out of start-up

    if in_joblib_worker():  # a job whose process dies must not take the pool's other jobs with it
        return run_in_child(cfg)
    if not distributed.join_submitit_tasks():
        return run(cfg)
    with distributed.leaving_group():
        return run(cfg)


@dataclass
class Job:
    """One run as its summary.json records it: where, which job, since when, how far it got."""

    run_dir: Path
    record: dict  # overrides, job number, host, pid
    in_sweep: bool
    main_rank: bool  # under torchrun rank 0 alone writes the summary
    start: float = field(default_factory=time.time)
    trainer: Any = None  # the Trainer, once built

    @property
    def number(self) -> int | None:
        """The job's number in its sweep (None for a single run)."""
        return self.record["job"]


def run(cfg: DictConfig) -> float:
    """Inside a multirun, a failing job is recorded (summary.json, status failed, the one-line
    reason) and returns NaN so that the sweep goes on; alone, it exits with one line."""
    from wgan_cli.distributed import current_shard  # lazy: keeps torch out of start-up
    from wgan_cli.interrupts import Signalled, signals_raise  # lazy: keeps torch out of start-up
    hydra_cfg = HydraConfig.get()
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    shard = current_shard()
    job = Job(Path(hydra_cfg.runtime.output_dir), {"overrides": list(hydra_cfg.overrides.task),
              "job": hydra_cfg.job.num if in_sweep else None, "host": socket.gethostname(), "pid": os.getpid()},
              in_sweep, shard.is_main)
    if not job.main_rank:  # submitit's tasks share the job's run dir and its log file: rank 0 alone writes it
        for handler in [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]:
            logging.getLogger().removeHandler(handler)
            handler.close()
    if in_sweep and cfg.device.name != "cpu" and shard.world == 1:
        use_gpu_by_job_number(hydra_cfg.job.num)
    lock = RunDirLock(job.run_dir, RunDir(job.run_dir).read_record()) if job.main_rank else None
    with contextlib.ExitStack() as stack:
        if lock is not None:
            stack.callback(lock.release)
        stack.enter_context(signals_raise())  # until the loop's handlers take over: a signal is one line
        try:
            validate(cfg)  # a typo or an out-of-range value is refused before torch is even imported
            if lock is not None:
                lock.acquire()  # one run per run dir; stale temp files of a killed write are then ours to remove
                for stale in RunDir(job.run_dir).stale_temp_files():
                    stale.unlink(missing_ok=True)
            kept = complete_before(job, cfg) if shard.world == 1 else None
            if kept is not None:  # nothing to train or evaluate: the run and its summary are there
                return objective(cfg, kept["final"], (kept.get("time_to_quality") or {}).get("step"))
            from wgan_cli.training import Trainer  # lazy: keeps torch out of start-up

            job.trainer = Trainer(cfg, job.run_dir)
            metrics = job.trainer.fit()
        except (Exception, KeyboardInterrupt, Signalled) as caught:  # noqa: BLE001 - recorded, then reported or re-raised
            if failed(job, caught):  # the sweep goes on
                return float("nan")
            raise
    return finished(job, metrics) if job.main_rank else float("nan")


def complete_before(job: Job, cfg: DictConfig) -> dict | None:
    """The summary of a run that already completed in this run dir with the same overrides and at
    least ``steps`` steps (a sweep run again, ``wgan-cli continue``), or None: then the run is built."""
    from wgan_cli.sweep import read_summary  # lazy: keeps torch out of start-up

    summary = read_summary(job.run_dir) if job.main_rank and cfg.resume == "auto" else None
    if (summary is None or summary.get("status") != "completed" or summary.get("overrides") != job.record["overrides"]
            or not isinstance(summary.get("steps"), int) or summary["steps"] < cfg.steps
            or not isinstance(summary.get("final"), dict) or not RunDir(job.run_dir).last.is_file()):
        return None
    log.info("the run is complete (step %d of %d); nothing to train, its summary.json holds its results",
             summary["steps"], cfg.steps)
    return summary


def failed(job: Job, caught: BaseException) -> bool:
    """Record a run that stopped before its end (summary.json, status failed or interrupted) and
    report it in one line; True where a sweep goes on past it, False where the caller re-raises."""
    from wgan_cli.interrupts import Interrupted, Signalled  # lazy: keeps torch out of start-up
    from wgan_cli.sweep import read_summary, write_summary  # lazy: keeps torch out of start-up

    trainer = job.trainer
    if isinstance(caught, (KeyboardInterrupt, Signalled)):
        # a signal outside the loop's handlers: start-up (building the run, the FID reference
        # statistics) or the final summary
        signum = getattr(caught, "signum", signal.SIGINT)
        name = signal.Signals(signum).name
        caught = Interrupted(f"{name} before training started: nothing was trained; run the same command to "
                             "start it" if trainer is None else f"{name} after training: last.pt holds the run",
                             signum)
    ex = out_of_memory(caught) or caught
    status = "interrupted" if isinstance(ex, Interrupted) else "failed"
    if isinstance(ex, RunDirBusy):
        report(ex)  # the other run's dir: nothing of it is touched
    if trainer is None and job.main_rank:  # refused before training: the dir keeps its run's record
        keep_previous_record(job.run_dir)
    if trainer is None and job.main_rank and not job.in_sweep and holds_only_a_record(job.run_dir):
        remove_refused_run_dir(job.run_dir)  # nothing ran: no empty run dir is left to confuse a dashboard
    elif job.main_rank and (trainer is not None or read_summary(job.run_dir) is None):  # never another run's record
        write_summary(job.run_dir, **job.record, status=status, reason=one_line(ex),
                      steps=trainer.state.step if trainer else 0, wall_seconds=time.time() - job.start,
                      final={}, best=trainer.state.records.best if trainer else {},
                      time_to_quality=time_to_quality(trainer) if trainer else None)
    if full_errors_wanted():
        return False
    if job.in_sweep and status == "failed":
        log.error("job %s failed, the sweep goes on: %s", job.number, one_line(ex))
        return True
    if isinstance(ex, UserError) or is_config_error(ex) or (isinstance(ex, OSError) and ex.filename):
        report(ex)  # one line and exit here: Hydra's job runner would log a second line first
    return False


def finished(job: Job, metrics: dict[str, float]) -> float:
    """Record a run that reached its last step; a final evaluation that is not finite is a
    diverged run (one line alone, NaN in a sweep)."""
    from wgan_cli.sweep import write_summary  # lazy: keeps torch out of start-up

    trainer = job.trainer
    bad = [f"{k}={v}" for k, v in metrics.items() if k.startswith(("w1/", "fid/")) and not math.isfinite(v)]
    reason = f"the final evaluation is not finite: {', '.join(bad)}; last.pt holds the run" if bad else ""
    write_summary(job.run_dir, **job.record, status="diverged" if bad else "completed", reason=reason,
                  steps=trainer.state.step, wall_seconds=time.time() - job.start, final=metrics, best=trainer.state.records.best,
                  time_to_quality=time_to_quality(trainer), critic_tracks_quality=critic_tracks_quality(trainer),
                  changed_on_resume=trainer.changed_on_resume)
    if bad:
        if job.in_sweep:
            log.error("job %s diverged, the sweep goes on: %s", job.number, reason)
            return float("nan")
        report(UserError(f"the run diverged: {reason}"))
    return objective(trainer.cfg, metrics, trainer.state.records.quality.get("step"))


def objective(cfg: DictConfig, metrics: dict[str, float], reached_at: int | None) -> float:
    """The number the run returns to its sweeper, lower is better (``objective``): a final metric
    (negated where higher is better), or the step at which it met its quality bar (``reached_at``;
    steps + 1 where it did not); NaN (a failed trial) where the run did not log the metric asked for."""
    from wgan_cli.sweep_results import higher_is_better  # lazy: keeps torch out of start-up

    key = cfg.objective
    if key == "auto":  # the FID the run computed, else the probe's lower bound, else the exact W1
        fid = sorted(k for k in metrics if k.startswith("fid/fid"))
        key = fid[0] if fid else "w1/probe" if "w1/probe" in metrics else "w1/exact"
    if key == "time_to_quality":
        return float(reached_at) if reached_at is not None else float(cfg.steps + 1)
    if key not in metrics:
        logged = ", ".join(sorted(k for k in metrics if "/" in k and not k.startswith("time/")))
        log.error("objective=%s: the run's final metrics have no such tag (they have %s); returned NaN", key, logged)
        return float("nan")
    return -metrics[key] if higher_is_better(key) else metrics[key]


def time_to_quality(trainer) -> dict:  # noqa: ANN001 - a Trainer (torch is loaded by then)
    from wgan_cli.training.quality import summary  # lazy: keeps torch out of start-up

    return summary(trainer.quality_bar, trainer.state.records.quality)


def critic_tracks_quality(trainer) -> dict:  # noqa: ANN001 - a Trainer
    from wgan_cli.training.evaluation import CRITIC_TAG  # lazy: keeps torch out of start-up
    from wgan_cli.training.quality import tracking  # lazy: keeps torch out of start-up

    return tracking(trainer.state.records.history, CRITIC_TAG[trainer.critic_is_w1])


RECORD_ONLY = {".hydra", "train.log", ".lock"}  # what Hydra and the lock put in a run dir before a run starts


def holds_only_a_record(run_dir: Path) -> bool:
    return run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= RECORD_ONLY


def remove_refused_run_dir(run_dir: Path) -> None:
    """Remove the dir of a single run refused before it trained (it holds only Hydra's record of the
    refused command and its one-line log), and the date folder above it when that is left empty
    (Hydra's default ``outputs/<date>/<time>``)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    parent = run_dir.parent
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", parent.name) and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()


def keep_previous_record(run_dir: Path) -> None:
    """A run refused before it trained (a bad value, an incompatible resume) leaves the run dir's
    ``.hydra`` record as the run that owns the dir wrote it (kept in its ``last.pt``)."""
    if RunDir(run_dir).last.is_file():
        from wgan_cli.checkpoint import restore_record  # lazy: keeps torch out of start-up

        restore_record(run_dir)


HIDDEN_GROUPS = ("schema", "data_model")  # chosen by the config itself, never by the user


def hide_schema_groups() -> None:
    """``--help`` and shell completion list the groups a user chooses from, not ``schema/``
    (the typed nodes the option files extend) nor ``data_model/`` (a dataset's settings for one
    model, chosen by the two). Hydra has no setting for this: its two listings
    are wrapped here (tested in tests/test_cli.py against the installed Hydra)."""
    if getattr(Hydra.list_all_config_groups, "hides_schema", False):
        return
    list_groups, group_options = Hydra.list_all_config_groups, ConfigLoaderImpl.get_group_options

    def listed(self, parent: str = ""):  # noqa: ANN001, ANN202
        return [g for g in list_groups(self, parent) if not g.startswith(HIDDEN_GROUPS)]

    def options(self, group_name: str, results_filter=ObjectType.CONFIG, *args, **kwargs):  # noqa: ANN001, ANN202
        found = group_options(self, group_name, results_filter, *args, **kwargs)
        return [o for o in found if not (group_name == "" and o in HIDDEN_GROUPS)]

    listed.hides_schema = True
    Hydra.list_all_config_groups, ConfigLoaderImpl.get_group_options = listed, options


def use_gpu_by_job_number(job: int) -> None:
    """Sweep jobs take the visible GPUs round-robin by job number (joblib workers all see every GPU)."""
    import torch  # lazy: keeps torch out of start-up

    if torch.cuda.is_available() and torch.cuda.device_count() > 1:
        torch.cuda.set_device(job % torch.cuda.device_count())


def refuse_what_a_run_refuses(argv: list[str]) -> None:
    """``--cfg job|all`` prints the config a run would run, without running it: a config the run
    refuses (an unknown key forced in with ``+``, a value out of range) is refused here too, in
    the same line. (A sweep's ``-m`` prints its first job's config unchecked.)"""
    printing = any(a in ("--cfg", "-c") or a.startswith("--cfg=") for a in argv)
    if not printing or any(a in ("-m", "--multirun") for a in argv):
        return
    validate(compose_config([a for a in argv if "=" in a and not a.startswith(("-", "hydra.", "hydra/"))]))


def main() -> None:
    from wgan_cli import distributed, sweep  # lazy: keeps torch out of start-up
    install_one_line_errors()
    share_config_store()
    hide_schema_groups()
    run_and_report(load_plugins)  # other packages' critics, datasets, models and losses, and their configs
    run_and_report(lambda: refuse_what_a_run_refuses(sys.argv[1:]))
    if distributed.launched():  # under torchrun: join the group; every rank writes to rank 0's run dir
        sys.argv[1:] = run_and_report(lambda: distributed.setup(sys.argv[1:]))
    with distributed.leaving_group():
        run_and_report(train)  # also the errors Hydra raises before its own reporter (bad flag combinations)
    if sweep.failed_jobs:
        sys.exit(min(sweep.failed_jobs, 125))  # the exit code says how many jobs failed
