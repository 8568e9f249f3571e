"""The typed schema of the top-level config; each group's own schema lives beside its code.

The dataclasses hold every default value; the yaml files in ``configs/`` only select options
(image data and experiments choose other values on purpose, as presets).

``configs/config.yaml`` extends ``base_config`` (stored below), so a wrong type or an
unknown key fails at composition, and ``validate`` checks the ranges OmegaConf cannot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from wgan_cli.errors import ConfigError


class OptimizerName(str, Enum):
    adam = "adam"
    rmsprop = "rmsprop"


class DecayName(str, Enum):
    none = "none"
    linear = "linear"  # lr_t = lr (1 - t / steps), to zero at the last generator step


@dataclass
class OptimConfig:
    """One optimizer kind for both nets; RMSprop ignores ``betas``."""

    name: OptimizerName = OptimizerName.adam
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: List[float] = field(default_factory=lambda: [0.5, 0.9])
    decay: DecayName = DecayName.none


@dataclass
class EvalConfig:
    every: int = 250  # generator steps between evaluations (exact W1, figure); 0 = only at the end
    n: int = 1000  # samples per side for exact W1, the noise floor and the held-out KR estimate
    projections: int = 200  # random directions for w1/sliced


@dataclass
class ProbeConfig:
    """A held-out 1-Lipschitz critic that only measures: w1/probe (wgan_cli/training/probe.py)."""

    every: int = 0  # generator steps between fits (and at the end); 0 = off
    updates: int = 300  # Adam steps per fit, each on a fresh draw (the fit is warm-started)
    batch: int = 256  # samples per side of each draw
    n: int = 2000  # held-out samples per side for the reading
    width: int = 128
    depth: int = 3
    lr: float = 2e-3


@dataclass
class EmaConfig:
    """Exponential moving average of the generator's weights, theta_ema <- d theta_ema + (1 - d) theta.

    ``decay=0`` turns it off; when on, samples and metrics use the EMA generator."""

    decay: float = 0.0
    start: int = 0  # generator step at which averaging begins (the EMA copies the weights then)


@dataclass
class FidConfig:
    """FID (and KID) of generated images against the training data, during training."""

    every: int = 0  # generator steps between FID evaluations; 0 = off
    num_samples: int = 0  # generated images per FID; 0 = 10000 on CUDA, 1000 on CPU (slow, biased)
    reference_n: int = 10000  # real images for the reference statistics (cached)
    batch: int = 100  # images per feature-extraction batch
    kid: bool = False  # also KID (subsets of up to 1000, 100 subsets)
    prdc: bool = False  # also precision, recall (k 3), density and coverage (k 5) on the same features
    weights: str = ""  # Inception weights file; "" = search the usual places
    download: bool = False  # download the weights if none are found
    cache_dir: str = ""  # reference statistics cache; "" = ~/.cache/wgan-cli/fid_stats
    target: float = 0.0  # the run's quality bar: the first step with FID <= target is in summary.json; 0 = none


class NanPolicy(str, Enum):
    stop = "stop"  # stop the run, naming the step and the term; the last good checkpoint stays
    skip = "skip"  # drop that optimizer update and go on (counted in train/skipped_updates)


class Precision(str, Enum):
    fp32 = "fp32"  # PyTorch's defaults: float32 matmuls; on CUDA, cuDNN convolutions in TF32
    bf16 = "bf16"  # autocast: the nets' forward passes in bfloat16; the gradient penalty stays float32


@dataclass
class TrainConfig:
    on_nan: NanPolicy = NanPolicy.stop  # a NaN or Inf loss
    amp: Precision = Precision.fp32  # mixed precision of the training steps (evaluation is float32)
    cuda_graph: bool = True  # on CUDA, replay each generator step as one CUDA graph
    threads: str = "auto"  # CPU intra-op threads: auto (by the work: wgan_cli/threads.py) or N


@dataclass
class CheckpointConfig:
    """``checkpoints/last.pt`` every ``every`` steps, at the end, and on SIGTERM / SIGINT."""

    every: int = 500  # generator steps between checkpoints; 0 = only at the end and on a signal
    keep: int = 0  # also keep the last K step-numbered copies (checkpoints/step_0001000.pt); 0 = none


@dataclass
class DeviceConfig:
    name: str = "auto"  # auto | cpu | cuda


@dataclass
class Config:
    data: Any = MISSING
    model: Any = MISSING
    critic: Any = MISSING
    loss: Any = MISSING
    device: DeviceConfig = field(default_factory=DeviceConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    fid: FidConfig = field(default_factory=FidConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    resume: str = "auto"  # auto: continue from the run dir's checkpoints/last.pt if any; never; or a PATH
    deterministic: bool = False  # PyTorch's deterministic algorithms (CUDA; CPU runs are deterministic anyway)
    steps: int = 3000  # generator steps
    n_critic: int = 5  # critic steps per generator step (each optim= recipe sets its own)
    batch_size: int = 128  # critic batch (real and fake each)
    batch_size_g: Optional[int] = None  # generator batch; None = batch_size
    seed: int = 0
    log_every: int = 50  # generator steps between loss scalars
    tasks: Dict[str, Any] = field(default_factory=dict)  # plugins' periodic tasks by name (wgan_cli/schema/task.py)


ConfigStore.instance().store(name="base_config", node=Config)


def require(condition: bool, key: str, value: Any, rule: str) -> None:
    """Raise a one-line ``ConfigError`` naming ``key=value`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"{key}={value}: {rule}")


GROUPS = ("data", "model", "critic", "loss")  # nodes whose schema is the chosen option's


def allowed_keys(prefix: str, cfg: Any = None, schema: str | None = None) -> list[str]:
    """The keys a schema declares at ``prefix`` ("" = the top level, or a node such as ``optim``,
    ``critic``), full paths; for a group node, those of the option ``cfg`` chose, or of the
    option whose schema class is named ``schema``, or of every option."""
    import dataclasses

    top = {f.name: f for f in dataclasses.fields(Config)}
    if not prefix:
        return list(top)
    if prefix in GROUPS:
        schemas = ConfigStore.instance().repo.get("schema", {}).get(prefix, {})
        from omegaconf import OmegaConf

        chosen = f"{cfg[prefix].name}.yaml" if cfg is not None else None
        entries = [e for name, e in schemas.items() if chosen in (None, name)
                   and schema in (None, getattr(OmegaConf.get_type(e.node), "__name__", None))]
        keys = {k for entry in entries or schemas.values() for k in entry.node.keys()}
        return [f"{prefix}.{k}" for k in sorted(keys)]
    if prefix.startswith("tasks."):
        from wgan_cli.schema.task import TASKS, task_keys

        name = prefix.split(".")[1]
        return task_keys(name) if name in TASKS.names() else []
    if prefix in top and dataclasses.is_dataclass(top[prefix].default_factory):
        return [f"{prefix}.{f.name}" for f in dataclasses.fields(top[prefix].default_factory())]
    return []


def no_such_key(key: str, cfg: Any = None, schema: str | None = None) -> ConfigError:
    """``KEY: no such key; did you mean CLOSEST?`` (the closest key of the same node)."""
    import difflib

    prefix, _, last = key.rpartition(".")
    candidates = {k.rpartition(".")[2]: k for k in allowed_keys(prefix, cfg, schema) or allowed_keys("")}
    if key in candidates.values():  # declared, but not in the node yet (a task's key the command did not set)
        return ConfigError(f"{key}: not set in this config; add it with +{key}=VALUE")
    close = difflib.get_close_matches(last, list(candidates), n=1, cutoff=0.6)
    if close:
        hint = f"; did you mean {candidates[close[0]]}?"
    elif prefix and len(candidates) <= 12:  # a node's few keys: name them (the option's, when known)
        hint = f"; the keys here are {', '.join(candidates)}"
    else:
        hint = " (wgan-cli train --cfg job lists every key)"
    return ConfigError(f"{key}: no such key{hint}")


def check_known_keys(cfg: Any) -> None:
    """Every key is one a schema declares: ``+stepz=3`` forces a new key into the config, and a
    typo must not pass silently."""
    from omegaconf import OmegaConf

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
    from wgan_cli.schema.task import task_configs

    task_configs(cfg)  # unknown tasks, their keys and ranges
    require(cfg.steps >= 1, "steps", cfg.steps, "must be an integer >= 1")
    require(cfg.n_critic >= 1, "n_critic", cfg.n_critic, "must be an integer >= 1")
    require(cfg.batch_size >= 1, "batch_size", cfg.batch_size, "must be an integer >= 1")
    require(
        cfg.batch_size_g is None or cfg.batch_size_g >= 1, "batch_size_g", cfg.batch_size_g,
        "must be an integer >= 1 (or null = batch_size)",
    )
    require(cfg.seed >= 0, "seed", cfg.seed, "must be an integer >= 0")
    require(cfg.log_every >= 1, "log_every", cfg.log_every, "must be an integer >= 1")
    require(cfg.eval.every >= 0, "eval.every", cfg.eval.every, "must be >= 0 (0 = only at the end)")
    require(cfg.eval.n >= 2, "eval.n", cfg.eval.n, "must be an integer >= 2")
    require(cfg.eval.projections >= 1, "eval.projections", cfg.eval.projections, "must be an integer >= 1")
    require(cfg.probe.every >= 0, "probe.every", cfg.probe.every, "must be >= 0 (0 = off)")
    for key in ("updates", "batch", "width", "depth"):
        require(cfg.probe[key] >= 1, f"probe.{key}", cfg.probe[key], "must be an integer >= 1")
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
    from wgan_cli.threads import parse_setting

    parse_setting(cfg.train.threads)
    require(cfg.device.name in ("auto", "cpu", "cuda"), "device", cfg.device.name, "choose one of auto, cpu, cuda")
