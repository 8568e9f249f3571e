"""Which checkpoint a run starts from (``resume=auto|never|PATH``), whether it fits the config,
and the run dir's ``.hydra`` record, which Hydra rewrites before the job starts: a resume that
is refused puts the record of the run that owns the dir back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from wgan_cli.checkpoint import resolve_checkpoint, restore_record
from wgan_cli.errors import ConfigError, UserError
from wgan_cli.rundir import RunDir

# the keys that decide the shapes of the saved tensors
# what a run is: a resume that changes one of these would continue another experiment
FIXED_KEYS = ("model", "data", "critic.name", "loss", "optim.name", "seed")
# how the data is read, not what it is: free to change
READING_KEYS = ("data.workers", "data.max_memory_mb", "data.root", "data.download")
# held in the optimizers' and schedulers' saved state: a resume sets them from the new config
SCHEDULE_KEYS = ("optim.lr_g", "optim.lr_d", "optim.betas", "optim.decay", "steps")


def starting_checkpoint(cfg: Any, run_dir: Path) -> Path | None:
    last = RunDir(run_dir).last
    if last.exists() and not last.is_file():  # not "no checkpoint": a restart would hide the run's curves
        raise UserError(f"{last} exists but is not a file; move it away to start the run over, or choose "
                        "another hydra.run.dir")
    if cfg.resume == "auto":
        return last if last.is_file() else None
    if cfg.resume == "never":
        if last.is_file():
            restore_record(run_dir)
            raise ConfigError(
                f"resume=never: {run_dir} already holds a run (checkpoints/last.pt); choose a new "
                "hydra.run.dir, or resume=auto to continue it"
            )
        return None
    return resolve_checkpoint(cfg.resume)


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def config_diffs(state: dict[str, Any], cfg: Any, data_shape: tuple[int, ...], every_key: bool = False) -> list[str]:
    """``key old -> new`` for the keys whose values differ between the checkpoint and ``cfg``: those
    that cannot change within a run (``FIXED_KEYS`` and the data shape), or with ``every_key`` all."""
    old = flatten(state["config"])
    new = flatten(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
    keys = sorted((set(old) | set(new)) - {"resume"})
    if not every_key:
        keys = [k for k in keys if _under(k, FIXED_KEYS) and not _under(k, READING_KEYS)]
    diffs = [f"{k} {old.get(k, '(unset)')} -> {new.get(k, '(unset)')}" for k in keys if old.get(k) != new.get(k)]
    if tuple(state["data_shape"]) != tuple(data_shape):
        diffs.append(f"data shape {tuple(state['data_shape'])} -> {tuple(data_shape)}")
    return diffs


def changed_keys(state: dict[str, Any], cfg: Any) -> list[str]:
    """``key old -> new`` for every key a resume changes (the others are refused first)."""
    return config_diffs(state, cfg, tuple(state["data_shape"]), every_key=True)


def check_compatible(state: dict[str, Any], cfg: Any, data_shape: tuple[int, ...]) -> None:
    """A one-line error naming each key that cannot change within a run, with both values."""
    diffs = config_diffs(state, cfg, data_shape)
    if diffs:
        raise ConfigError(
            f"resume: these keys cannot change within a run ({'; '.join(diffs)}); rerun with the checkpoint's "
            "values, or start a new run with resume=never and a new hydra.run.dir"
        )


