"""Checkpoints written atomically: a temporary file in the same folder, fsynced, then
``os.replace``d over the target, so a kill mid-write (or a full disk) leaves the previous file
intact; every RNG state, so a resumed run continues bitwise as if never stopped; and reading
them back with one-line errors."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from wgan_cli.errors import UserError, write_failed
from wgan_cli.model import MODELS
from wgan_cli.rundir import RunDir


class CheckpointError(UserError):
    pass


def save_atomic(obj: Any, path: Path) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    buffer = io.BytesIO()  # serialized first: torch's writer reports a failed write as "unexpected pos",
    torch.save(obj, buffer)  # with the OS's reason lost; a plain write keeps it
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as ex:
        kept = "the previous one is intact" if path.exists() else "no earlier one existed"
        raise CheckpointError(str(write_failed(ex, path, kept))) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def keep_last(last: Path, step: int, keep: int) -> None:
    """A step-numbered copy of ``last`` (a hard link where the filesystem allows), and only the
    newest ``keep`` of them."""
    if keep <= 0:
        return
    numbered = last.with_name(f"step_{step:07d}.pt")
    numbered.unlink(missing_ok=True)
    try:
        os.link(last, numbered)  # last.pt is replaced by rename later, so the link keeps this content
    except OSError:
        save_atomic(torch.load(last, weights_only=True), numbered)
    for old in sorted(last.parent.glob("step_*.pt"))[:-keep]:
        old.unlink()


def rng_state() -> dict[str, Any]:
    """The global RNG states (python, numpy, torch CPU and CUDA), in types ``weights_only`` loads."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run dir (its ``checkpoints/last.pt``)."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = RunDir(p).last
    if not p.is_file():
        raise UserError(f"{path}: no such checkpoint (a .pt file, or a run dir holding checkpoints/last.pt)")
    return p


def restore_record(run_dir: Path) -> None:
    """Put back the ``.hydra`` record kept in the run's ``last.pt`` (a refused run had Hydra
    rewrite it); nothing where there is no ``last.pt`` or it cannot be read."""
    last = RunDir(run_dir).last
    if last.is_file():
        try:
            RunDir(run_dir).write_record(load_checkpoint(last).get("hydra_record"))
        except UserError:
            pass  # an unreadable last.pt: nothing to restore from


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The state a trainer saved; a missing, truncated or foreign file is a one-line error."""
    p = resolve_checkpoint(path)
    if p.stat().st_size == 0:
        raise UserError(f"{p}: empty file, not a checkpoint")
    try:
        state = torch.load(p, map_location=device, weights_only=True)
    except Exception as ex:  # noqa: BLE001 - any unreadable file is the same error to the user
        raise UserError(f"{p}: not a readable checkpoint ({type(ex).__name__}: {str(ex).splitlines()[0][:120]})") from ex
    if not isinstance(state, dict) or not {"generator", "config", "data_shape"} <= state.keys():
        raise UserError(f"{p}: not a wgan-cli checkpoint (no generator, config or data_shape)")
    if "step" in state and (not isinstance(state["step"], int) or isinstance(state["step"], bool) or state["step"] < 0):
        raise UserError(f"{p}: not a wgan-cli checkpoint (its step is {state['step']!r}, not a count of steps)")
    return state


def samples_from_ema(state: dict[str, Any]) -> bool:
    """Whether the run's samples come from its EMA generator: it kept one and averaging had begun
    (step > ema.start), the rule the trainer's ``sampler`` follows."""
    return state.get("ema") is not None and state.get("step", 0) > state["config"]["ema"]["start"]


def sampler_name(state: dict[str, Any]) -> str:
    return "EMA generator" if samples_from_ema(state) else "generator"


def generator_from_checkpoint(state: dict[str, Any], device: str | torch.device = "cpu") -> tuple[torch.nn.Module, int]:
    """The generator to sample from (``samples_from_ema``) and its noise size, in eval mode."""
    cfg = OmegaConf.create(state["config"])
    generator, _ = MODELS.build(cfg.model, tuple(state["data_shape"]))
    weights = state["generator"]
    if samples_from_ema(state):
        weights = {k[len("module."):]: v for k, v in state["ema"].items() if k.startswith("module.")}
    try:
        generator.load_state_dict(weights)
    except RuntimeError as ex:  # a checkpoint edited by hand, or weights saved under another config
        first = next((line.strip() for line in str(ex).splitlines()[1:] if line.strip()), str(ex).splitlines()[0])
        raise UserError(f"the checkpoint's generator weights do not fit its own config (model={cfg.model.name}): "
                        f"{first[:160]}") from None
    return generator.to(device).eval().requires_grad_(False), int(cfg.model.noise_dim)
