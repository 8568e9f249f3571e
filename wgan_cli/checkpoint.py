"""Checkpoints written atomically: a temporary file in the same folder, fsynced, then
``os.replace``d over the target, so a kill mid-write leaves the previous file intact."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from wgan_cli.errors import UserError


def save_atomic(obj: Any, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run dir (its ``checkpoints/last.pt``)."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "checkpoints" / "last.pt"
    if not p.is_file():
        raise UserError(f"{path}: no such checkpoint (a .pt file, or a run dir holding checkpoints/last.pt)")
    return p


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The state a trainer saved; a missing, truncated or foreign file is a one-line error."""
    p = resolve_checkpoint(path)
    try:
        state = torch.load(p, map_location=device, weights_only=True)
    except Exception as ex:  # noqa: BLE001 - any unreadable file is the same error to the user
        raise UserError(f"{p}: not a readable checkpoint ({type(ex).__name__}: {str(ex).splitlines()[0][:120]})") from ex
    if not isinstance(state, dict) or not {"generator", "config", "data_shape"} <= state.keys():
        raise UserError(f"{p}: not a wgan-cli checkpoint (no generator, config or data_shape)")
    return state


def generator_from_checkpoint(state: dict[str, Any], device: str | torch.device = "cpu") -> tuple[torch.nn.Module, int]:
    """The generator to sample from (the EMA copy when the run kept one) and its noise size, in eval mode."""
    from omegaconf import OmegaConf

    from wgan_cli.model import MODELS

    cfg = OmegaConf.create(state["config"])
    generator, _ = MODELS.get(cfg.model.name)(cfg.model, tuple(state["data_shape"]))
    weights = state["generator"]
    if state.get("ema") is not None and state.get("step", 0) > cfg.ema.start:
        weights = {k[len("module."):]: v for k, v in state["ema"].items() if k.startswith("module.")}
    generator.load_state_dict(weights)
    return generator.to(device).eval().requires_grad_(False), int(cfg.model.noise_dim)
