"""A run's state: what ``checkpoints/last.pt`` holds, and resuming from it exactly."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf
from torch import Tensor

from wgan_cli.checkpoint import keep_last, load_checkpoint, rng_state, save_atomic, set_rng_state
from wgan_cli.errors import ConfigError, UserError
from wgan_cli.resume import SCHEDULE_KEYS, changed_keys, check_compatible, config_diffs
from wgan_cli.rundir import RunDir

if TYPE_CHECKING:
    from wgan_cli.training.trainer import Trainer

log = logging.getLogger("wgan_cli")


def state_dict(t: Trainer) -> dict[str, Any]:
    """The run's state (``t.state``), its networks (``t.nets``), the probe's, the global random
    streams, and what the run was: its ``.hydra`` record, data shape and resolved config."""
    return {
        **t.state.state_dict(),  # step, rng, fixed_noise, best, quality, history, seconds, skipped
        **t.nets.state_dict(),  # generator, critic, ema, opt_g, opt_d, sched_g, sched_d
        "probe": t.probe.state_dict() if t.probe is not None else None,
        "rng_global": rng_state(),
        "hydra_record": t.hydra_record,
        "data_shape": list(t.data.shape),
        "config": OmegaConf.to_container(t.cfg, resolve=True, enum_to_str=True),
    }


def load_state_dict(t: Trainer, state: dict[str, Any]) -> None:
    """Restore what ``state_dict`` saved (the config is the caller's to compare)."""
    t.nets.load_state_dict(state)
    t.make_capturable()  # loaded optimizers come as saved: float learning rates, not capturable
    t.state.load_state_dict(state, t.device)
    if t.probe is not None and state.get("probe") is not None:  # a probe turned on at resume starts afresh
        t.probe.load_state_dict(state["probe"])
    if "rng_global" in state:
        set_rng_state(state["rng_global"])


def resume(t: Trainer, path: Path) -> None:
    """Continue from ``path``; a config that changes shapes is an error naming the keys, and the
    run dir's ``.hydra`` record (just rewritten by Hydra) is put back as it was."""
    state = load_checkpoint(path)  # on the CPU: RNG states stay there, load_state_dict moves the rest
    try:
        check_compatible(state, t.cfg, t.data.shape)
        try:
            load_state_dict(t, state)
        except (RuntimeError, KeyError, ValueError) as ex:
            diffs = "; ".join(config_diffs(state, t.cfg, t.data.shape, every_key=True))
            raise ConfigError(f"resume: {path} does not fit this config ({diffs or 'no key differs'})") from ex
    except UserError:
        if path == RunDir(t.run_dir).last:
            RunDir(t.run_dir).write_record(state.get("hydra_record"))
        raise
    t.changed_on_resume = changed_keys(state, t.cfg)
    if any(change.split(" ")[0] in SCHEDULE_KEYS for change in t.changed_on_resume):
        follow_new_schedule(t)
    log.info("resumed from %s at step %d", path, t.state.step)
    for change in t.changed_on_resume:
        log.info("changed on resume: %s", change)


def follow_new_schedule(t: Trainer) -> None:
    """The saved optimizers and schedulers hold the old learning rates and betas: set them from the
    config, at the point of the (new) schedule where the run is, lr_t = lr * decay(t, steps)."""
    optim = t.cfg.optim
    nets = t.nets
    for opt, sched, lr in ((nets.opt_g, nets.sched_g, optim.lr_g), (nets.opt_d, nets.sched_d, optim.lr_d)):
        factor = sched.lr_lambdas[0](sched.last_epoch)  # the lambda was built from the new steps and decay
        sched.base_lrs = [lr] * len(opt.param_groups)
        for group in opt.param_groups:
            group["initial_lr"] = lr
            if "betas" in group:
                group["betas"] = tuple(optim.betas)
            if isinstance(group["lr"], Tensor):
                group["lr"].fill_(lr * factor)
            else:
                group["lr"] = lr * factor


def save_checkpoint(t: Trainer, best: bool = False) -> Path:
    """``checkpoints/last.pt`` (also keeping ``checkpoint.keep`` step copies), or ``best.pt``;
    written atomically."""
    run = RunDir(t.run_dir)
    path = run.best if best else run.last
    save_atomic(state_dict(t), path)
    if not best:
        keep_last(path, t.state.step, t.cfg.checkpoint.keep)
    return path
