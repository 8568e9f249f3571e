"""The loop: a generator step, then the periodic tasks that are due, until ``steps``.

Under torchrun every rank takes every step; rank 0 alone logs, evaluates and checkpoints, and all
ranks stop at the same step when any of them is asked to (SIGTERM, SIGINT, SLURM's USR2).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from typing import TYPE_CHECKING

from wgan_cli.cuda_graphs import WARMUP
from wgan_cli.distributed import any_rank, barrier, mean_over_ranks
from wgan_cli.interrupts import Interrupted, StopRequests
from wgan_cli.rundir import RunDir
from wgan_cli.sweep import METRICS, W1_VIEW, sweep_dir
from wgan_cli.tracking import Tracker
from wgan_cli.training.evaluation import CRITIC_TAG
from wgan_cli.training.state import save_checkpoint
from wgan_cli.training.tasks import LogLosses, context, periodic_tasks


if TYPE_CHECKING:
    from wgan_cli.training.trainer import Trainer

log = logging.getLogger("wgan_cli")


def fit(t: Trainer) -> dict[str, float]:
    """Train to ``steps`` (from a resumed step, if any); returns the last evaluation's metrics."""
    cfg = t.cfg
    log.info("training %s on %s with critic=%s, %d steps, n_critic=%d, device %s; run dir %s",
             cfg.model.name, cfg.data.name, cfg.critic.name, cfg.steps, cfg.n_critic, t.device, t.run_dir)
    if t.shard.world > 1:
        log.info("data parallel over %d processes (DistributedDataParallel); rank 0 writes the run dir", t.shard.world)
    if t.device.type == "cuda":
        log.info("CUDA graph: %s", "on (each generator step replays as one graph after %d eager steps)"
                 % WARMUP if t.graph_off is None else f"off: {t.graph_off}")
    if t.state.step >= cfg.steps:
        log.info("the run is complete (step %d of %d); nothing to train", t.state.step, cfg.steps)
        return t.evaluate()
    start = t.state.records.started = time.perf_counter()
    metrics: dict[str, float] = {}
    tracker = None
    if t.shard.is_main:  # under torchrun rank 0 alone logs, evaluates and checkpoints
        tracker = Tracker(t.run_dir, cfg.steps, t.state.step, critic_is_w1=t.critic_is_w1,
                          critic_free=not t.strategy.has_network, probe=t.probe is not None,
                          fid_tag=t.fid.tag if t.fid is not None else None, images=len(t.data.shape) == 3,
                          in_sweep=sweep_dir() is not None)
        if t.fid is not None:
            tracker.text("fid/protocol", t.fid.protocol, t.state.step)
        logged = [m for m in METRICS if m != ("gap/critic" if t.critic_is_w1 else "w1/critic")]  # no empty column
        tracker.hparams(cfg, logged + ([t.fid.tag] if t.fid is not None else []))
    try:
        with StopRequests() as stop:
            metrics = loop(t, tracker, stop)
    finally:
        if tracker is not None:
            tracker.close()
    elapsed = time.perf_counter() - start
    barrier(t.shard)  # every rank leaves together, after rank 0's last evaluation and checkpoint
    if not t.shard.is_main:
        return {"time/seconds": elapsed}
    ratio = f" ({metrics['w1/critic_ratio']:.2f} of exact)" if "w1/critic_ratio" in metrics else ""
    critic_tag = CRITIC_TAG[t.critic_is_w1]
    fid = f"; {t.fid.tag} {metrics[t.fid.tag]:.2f}" if t.fid is not None and t.fid.tag in metrics else ""
    log.info("done: %d steps in %.1f s%s; w1/exact %.4f (noise floor %.4f), %s %.4f%s",
             t.state.step, elapsed, fid, metrics["w1/exact"], metrics["w1/noise_floor"], critic_tag, metrics[critic_tag],
             ratio)
    if t.quality_bar is not None:
        reached = t.state.records.quality
        log.info("quality bar %s: %s", t.quality_bar, "not reached" if not reached else
                 f"reached at step {reached['step']} ({reached['seconds']:.1f} s of training)")
    if sweep_dir() is None:  # a sweep's jobs are compared on the sweep's dashboard, named at its end
        log.info("dashboard: tensorboard --logdir %s, then open %s (the W1 charts, unsmoothed)", t.run_dir, W1_VIEW)
    return {**metrics, "time/seconds": elapsed}


def loop(t: Trainer, tracker: Tracker | None, stop: StopRequests) -> dict[str, float]:
    tasks = periodic_tasks(t, "critic W1~" if t.critic_is_w1 else "critic gap")  # the training critic's batch value
    results: dict[str, float] = {}
    while t.state.step < t.cfg.steps:
        stats = t.train_step()
        stopping = any_rank(stop.signum is not None, t.shard, t.device)  # every rank stops at one step
        last = t.state.step == t.cfg.steps
        due = [task for task in tasks if task.due(t.state.step, last, stopping)]
        if due:  # the host looks: the losses must be finite so far
            t.check_finite()
        if any(isinstance(task, LogLosses) for task in due):
            stats = mean_over_ranks(stats, t.shard)  # the global batch's losses (every rank takes part)
        if tracker is not None:
            tracker.progress.tick(t.state.step)  # the bar moves every step (no device sync: the step count is the host's)
        if not t.shard.is_main:
            if stopping and not last:
                barrier(t.shard)  # rank 0 saves last.pt first
                raise Interrupted(f"stopped at step {t.state.step} with rank 0", stop.signum or signal.SIGTERM)
            continue
        final = contextlib.nullcontext()
        if last and any(task.busy for task in due):  # the final evaluation, probe or FID can take minutes:
            # the trained state is on disk first (a SIGKILL after a grace period loses none of the training),
            # and a stop signal ends them at once; the Checkpoint task writes it again after them, with their results
            final = stop.saved_before(save_checkpoint(t))
        with final:
            for task in due:
                for key in [k for k in results if k.startswith(task.replaces)] if task.replaces else []:
                    del results[key]
                with tracker.progress.doing(task.busy):
                    results.update(task.run(context(t, task.name, stats, results), tracker))
        if last and stop.signum is not None:  # came during the last step's quick tasks: they are done and saved
            raise Interrupted(f"{signal.Signals(stop.signum).name} at the last step ({t.state.step}): saved "
                              f"{RunDir(t.run_dir).last}; run the same command again to finish it", stop.signum)
        if stopping and not last:
            barrier(t.shard)
            stop.hand_over_to_requeue()  # under submitit: requeue and exit; resumes from last.pt
            signum = stop.signum or signal.SIGTERM  # another rank's signal
            raise Interrupted(f"{signal.Signals(signum).name} at step {t.state.step}: saved "
                              f"{RunDir(t.run_dir).last}; run the same command again to resume", signum)
    return results
