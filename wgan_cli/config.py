"""The typed schema of the top-level config; each group's schema is in ``wgan_cli/schema/``.

The dataclasses hold every default value but the optimizer recipe's (``optim.*`` and
``n_critic``: MISSING here, set by ``configs/optim/<recipe>.yaml``, which each critic chooses);
the other yaml files select options (image data and experiments choose other values on purpose,
as presets, each naming its source).

``configs/config.yaml`` extends ``base_config`` (stored below), so a wrong type or an
unknown key fails at composition, and ``wgan_cli.validation.validate`` checks the ranges
OmegaConf cannot.
"""

from __future__ import annotations

import difflib
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
    """One optimizer kind for both nets; RMSprop ignores ``betas``. No defaults here: every value
    comes from the recipe a critic chooses (``configs/optim/<recipe>.yaml``, ``optim=`` to pick)."""

    name: OptimizerName = MISSING
    lr_g: float = MISSING
    lr_d: float = MISSING
    betas: List[float] = MISSING
    decay: DecayName = MISSING


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


DEVICES = ("auto", "cpu", "cuda")  # configs/device/<name>.yaml each; auto = cuda where available


@dataclass
class DeviceConfig:
    name: str = "auto"  # one of DEVICES


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
    n_critic: int = MISSING  # critic steps per generator step: the optim= recipe's
    batch_size: int = 128  # critic batch (real and fake each)
    batch_size_g: Optional[int] = None  # generator batch; None = batch_size
    seed: int = 0
    log_every: int = 50  # generator steps between loss scalars
    # what a run returns to its sweeper (hparams_search=optuna minimizes it): auto (the FID the run
    # computes, else w1/probe where the probe is on, else w1/exact), time_to_quality (generator steps
    # to the quality bar; steps + 1 where not reached), or a final metric's tag (negated where higher is better)
    objective: str = "auto"
    tasks: Dict[str, Any] = field(default_factory=dict)  # plugins' periodic tasks by name (wgan_cli/schema/task.py)


ConfigStore.instance().store(name="base_config", node=Config)


MAX_SEED = 2**32 - 1  # every stream a run seeds takes it (numpy's and POT's seeds are 32-bit)


def require(condition: bool, key: str, value: Any, rule: str) -> None:
    """Raise a one-line ``ConfigError`` naming ``key=value`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"{key}={value}: {rule}")


def unknown_key(key: str, candidates: dict[str, str], listed: bool = False) -> ConfigError:
    """``KEY: no such key; did you mean CLOSEST?``, from ``candidates`` (last part -> full key);
    without a close one, the node's few keys where ``listed``, else where to find every key."""
    close = difflib.get_close_matches(key.rpartition(".")[2], list(candidates), n=1, cutoff=0.6)
    if close:
        hint = f"; did you mean {candidates[close[0]]}?"
    elif listed and len(candidates) <= 12:  # a node's few keys: name them (the option's, when known)
        hint = f"; the keys here are {', '.join(candidates)}"
    else:
        hint = " (wgan-cli train --cfg job lists every key)"
    return ConfigError(f"{key}: no such key{hint}")
