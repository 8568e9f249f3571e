"""``wgan-cli train``: the Hydra app that composes ``configs/`` and runs the trainer."""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

# importing the component packages registers their names and config schemas
import wgan_cli.config  # noqa: F401
import wgan_cli.critic  # noqa: F401
import wgan_cli.data  # noqa: F401
import wgan_cli.loss  # noqa: F401
import wgan_cli.model  # noqa: F401
from wgan_cli.errors import UserError, full_errors_wanted, install_one_line_errors, report
from wgan_cli.plugins import load_plugins

CONFIG_PATH = "pkg://wgan_cli.configs"
log = logging.getLogger("wgan_cli")


def compose_config(overrides: list[str]) -> DictConfig:
    """The config ``wgan-cli train OVERRIDES`` would run, composed without running it."""
    from hydra import compose, initialize_config_module

    load_plugins()
    with initialize_config_module("wgan_cli.configs", version_base=None):
        return compose("config", overrides=overrides)


@hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="config")
def train(cfg: DictConfig) -> float:
    """One run. A sweep job of several submitit tasks (``hydra.launcher.tasks_per_node=N``) is one
    data-parallel run over them, as under torchrun."""
    from wgan_cli import distributed

    if not distributed.join_submitit_tasks():
        return run(cfg)
    with distributed.leaving_group():
        return run(cfg)


def run(cfg: DictConfig) -> float:
    """Inside a multirun, a failing job is recorded (summary.json, status failed, the one-line
    reason) and returns NaN so that the sweep goes on; alone, it exits with one line."""
    from hydra.types import RunMode

    from wgan_cli.distributed import current_shard
    from wgan_cli.errors import one_line
    from wgan_cli.interrupts import Interrupted
    from wgan_cli.sweep import read_summary, write_summary
    from wgan_cli.training import Trainer

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    record = {"overrides": list(hydra_cfg.overrides.task), "job": hydra_cfg.job.num if in_sweep else None,
              "host": socket.gethostname(), "pid": os.getpid()}
    start, trainer = time.time(), None
    shard = current_shard()
    main_rank = shard.is_main  # under torchrun rank 0 alone writes the summary
    if not main_rank:  # submitit's tasks share the job's run dir and its log file: rank 0 alone writes it
        for handler in [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]:
            logging.getLogger().removeHandler(handler)
            handler.close()
    if in_sweep and cfg.device.name != "cpu" and shard.world == 1:
        use_gpu_by_job_number(hydra_cfg.job.num)
    try:
        trainer = Trainer(cfg, run_dir)
        metrics = trainer.fit()
    except Exception as ex:  # noqa: BLE001 - recorded, then reported or re-raised below
        status = "interrupted" if isinstance(ex, Interrupted) else "failed"
        if main_rank and (trainer is not None or read_summary(run_dir) is None):  # never overwrite another run's record
            write_summary(run_dir, **record, status=status, reason=one_line(ex),
                          steps=trainer.step if trainer else 0, wall_seconds=time.time() - start,
                          final={}, best=trainer.best if trainer else {})
        if full_errors_wanted():
            raise
        if in_sweep and status == "failed":
            log.error("job %s failed, the sweep goes on: %s", hydra_cfg.job.num, one_line(ex))
            return float("nan")
        if isinstance(ex, UserError):
            report(ex)  # one line and exit here: Hydra's job runner would log a second line first
        raise
    if not main_rank:
        return float("nan")
    write_summary(run_dir, **record, status="completed", reason="", steps=trainer.step,
                  wall_seconds=time.time() - start, final=metrics, best=trainer.best)
    return metrics["w1/exact"]


def use_gpu_by_job_number(job: int) -> None:
    """Sweep jobs take the visible GPUs round-robin by job number (joblib workers all see every GPU)."""
    import torch

    if torch.cuda.is_available() and torch.cuda.device_count() > 1:
        torch.cuda.set_device(job % torch.cuda.device_count())


def main() -> None:
    from wgan_cli import distributed, sweep
    from wgan_cli.errors import run_and_report

    install_one_line_errors()
    run_and_report(load_plugins)  # other packages' critics, datasets, models and losses, and their configs
    if distributed.launched():  # under torchrun: join the group; every rank writes to rank 0's run dir
        sys.argv[1:] = run_and_report(lambda: distributed.setup(sys.argv[1:]))
    with distributed.leaving_group():
        run_and_report(train)  # also the errors Hydra raises before its own reporter (bad flag combinations)
    if sweep.failed_jobs:
        sys.exit(min(sweep.failed_jobs, 125))  # the exit code says how many jobs failed
