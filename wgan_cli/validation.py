"""Whether a composed config is one a run accepts: every key declared by a schema (a typo is
one line naming the closest key), every value in its range (``validate``). Above the schemas:
a task's keys come from its plugin's schema.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from wgan_cli.config import DEVICES, MAX_SEED, Config, require, unknown_key
from wgan_cli.errors import ConfigError
from wgan_cli.schema.task import TASKS, task_configs, task_keys
from wgan_cli.threads import parse_setting

GROUPS = ("data", "model", "critic", "loss")  # nodes whose schema is the chosen option's


def allowed_keys(prefix: str, cfg: Any = None, schema: str | None = None) -> list[str]:
    """The keys a schema declares at ``prefix`` ("" = the top level, or a node such as ``optim``,
    ``critic``), full paths; for a group node, those of the option ``cfg`` chose, or of the
    option whose schema class is named ``schema``, or of every option."""
    top = {f.name: f for f in dataclasses.fields(Config)}
    if not prefix:
        return list(top)
    if prefix in GROUPS:
        schemas = ConfigStore.instance().repo.get("schema", {}).get(prefix, {})
        chosen = f"{cfg[prefix].name}.yaml" if cfg is not None else None
        entries = [e for name, e in schemas.items() if chosen in (None, name)
                   and schema in (None, getattr(OmegaConf.get_type(e.node), "__name__", None))]
        keys = {k for entry in entries or schemas.values() for k in entry.node.keys()}
        return [f"{prefix}.{k}" for k in sorted(keys)]
    if prefix.startswith("tasks."):
        name = prefix.split(".")[1]
        return task_keys(name) if name in TASKS.names() else []
    if prefix in top and dataclasses.is_dataclass(top[prefix].default_factory):
        return [f"{prefix}.{f.name}" for f in dataclasses.fields(top[prefix].default_factory())]
    return []


def no_such_key(key: str, cfg: Any = None, schema: str | None = None) -> ConfigError:
    """``KEY: no such key; did you mean CLOSEST?`` (the closest key of the same node)."""
    prefix = key.rpartition(".")[0]
    candidates = {k.rpartition(".")[2]: k for k in allowed_keys(prefix, cfg, schema) or allowed_keys("")}
    if key in candidates.values():  # declared, but not in the node yet (a task's key the command did not set)
        return ConfigError(f"{key}: not set in this config; add it with +{key}=VALUE")
    return unknown_key(key, candidates, listed=bool(prefix))


def check_known_keys(cfg: Any) -> None:
    """Every key is one a schema declares: ``+stepz=3`` forces a new key into the config, and a
    typo must not pass silently."""
    top = allowed_keys("")
    for key in cfg:
        if key not in top:
            raise no_such_key(key)
        node = cfg[key]
        allowed = allowed_keys(key, cfg)
        if OmegaConf.is_dict(node) and allowed:
            for sub in node:
                if f"{key}.{sub}" not in allowed:
                    raise no_such_key(f"{key}.{sub}", cfg)


def validate(cfg: Any) -> None:
    """Range checks for the top-level keys (group nodes validate themselves when built)."""
    check_known_keys(cfg)
    task_configs(cfg)  # unknown tasks, their keys and ranges
    require(cfg.steps >= 1, "steps", cfg.steps, "must be an integer >= 1")
    require(cfg.n_critic >= 1, "n_critic", cfg.n_critic, "must be an integer >= 1")
    require(cfg.batch_size >= 1, "batch_size", cfg.batch_size, "must be an integer >= 1")
    require(
        cfg.batch_size_g is None or cfg.batch_size_g >= 1, "batch_size_g", cfg.batch_size_g,
        "must be an integer >= 1 (or null = batch_size)",
    )
    require(0 <= cfg.seed <= MAX_SEED, "seed", cfg.seed, f"must be an integer in [0, {MAX_SEED}] (2**32 - 1)")
    require(cfg.log_every >= 1, "log_every", cfg.log_every, "must be an integer >= 1")
    require(cfg.eval.every >= 0, "eval.every", cfg.eval.every, "must be >= 0 (0 = only at the end)")
    require(cfg.eval.n >= 2, "eval.n", cfg.eval.n, "must be an integer >= 2")
    require(cfg.eval.projections >= 1, "eval.projections", cfg.eval.projections, "must be an integer >= 1")
    require(cfg.probe.every >= 0, "probe.every", cfg.probe.every, "must be >= 0 (0 = off)")
    for key in ("updates", "batch", "width", "depth"):
        require(cfg.probe[key] >= 1, f"probe.{key}", cfg.probe[key], "must be an integer >= 1")
    require(cfg.probe.width % 2 == 0, "probe.width", cfg.probe.width, "must be even (GroupSort2 sorts pairs of units)")
    require(cfg.probe.n >= 2, "probe.n", cfg.probe.n, "must be an integer >= 2 (a mean and its standard error)")
    require(0 < cfg.probe.lr < math.inf, "probe.lr", cfg.probe.lr, "must be a finite number > 0")
    require(0 <= cfg.ema.decay < 1, "ema.decay", cfg.ema.decay, "must be in [0, 1) (0 = off)")
    require(cfg.ema.start >= 0, "ema.start", cfg.ema.start, "must be an integer >= 0")
    require(cfg.fid.every >= 0, "fid.every", cfg.fid.every, "must be >= 0 (0 = off)")
    require(cfg.fid.num_samples >= 0, "fid.num_samples", cfg.fid.num_samples, "must be >= 0 (0 = by device)")
    require(cfg.fid.reference_n >= 2, "fid.reference_n", cfg.fid.reference_n, "must be an integer >= 2")
    require(cfg.fid.target >= 0, "fid.target", cfg.fid.target, "must be >= 0 (0 = no quality bar)")
    require(cfg.fid.batch >= 1, "fid.batch", cfg.fid.batch, "must be an integer >= 1")
    require(cfg.checkpoint.every >= 0, "checkpoint.every", cfg.checkpoint.every, "must be >= 0 (0 = only at the end)")
    require(cfg.checkpoint.keep >= 0, "checkpoint.keep", cfg.checkpoint.keep, "must be >= 0 (0 = only last.pt)")
    require(bool(cfg.resume), "resume", "''", "choose auto, never, or a checkpoint PATH")
    require(0 < cfg.optim.lr_g < math.inf, "optim.lr_g", cfg.optim.lr_g, "must be a finite number > 0")
    require(0 < cfg.optim.lr_d < math.inf, "optim.lr_d", cfg.optim.lr_d, "must be a finite number > 0")
    betas = list(cfg.optim.betas)
    require(
        len(betas) == 2 and all(0 <= b < 1 for b in betas),
        "optim.betas",
        betas,
        "must be two numbers in [0, 1)",
    )
    require(cfg.objective in ("auto", "time_to_quality") or "/" in cfg.objective, "objective", cfg.objective,
            "choose auto, time_to_quality or a metric's tag (w1/exact, w1/probe, fid/fid10k_train, ...)")
    parse_setting(cfg.train.threads)
    require(cfg.device.name in DEVICES, "device", cfg.device.name, f"choose one of {', '.join(DEVICES)}")
