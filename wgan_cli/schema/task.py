"""Config schemas of the extra periodic tasks (``tasks.<name>``): metrics from other packages.

A plugin registers a task (``@TASKS.register(name, schema)`` on a ``wgan_cli.training.tasks.Task``
subclass); a run runs it when its config holds ``tasks.<name>``: on the command line
``+tasks.<name>.every=500`` (Hydra's ``+`` adds a key), or ``+tasks=<name>`` where the plugin ships
``configs/tasks/<name>.yaml``. The task's dataclass types the node and holds its defaults.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from wgan_cli.config import require, unknown_key
from wgan_cli.errors import ConfigError
from wgan_cli.registry import Registry

TASKS = Registry("tasks")


@dataclass
class TaskConfig:
    name: str = "none"
    every: int = 0  # generator steps between runs (0 = only at the last step)

    def check(self) -> None:
        require(self.every >= 0, f"tasks.{self.name}.every", self.every, "must be >= 0 (0 = only at the end)")


def task_keys(name: str) -> list[str]:
    """``tasks.<name>.<key>`` for every key of task ``name``'s schema."""
    return [f"tasks.{name}.{f.name}" for f in dataclasses.fields(TASKS.schema(name)) if f.name != "name"]


def known_tasks(name: str) -> str:
    close = difflib.get_close_matches(name, TASKS.names(), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]}?"
    if TASKS.names():
        return f"the tasks are {', '.join(TASKS.names())}"
    return "none is installed (a plugin adds them: see docs/extending.md)"


def task_configs(cfg: Any) -> list[Any]:
    """The nodes of ``cfg.tasks``, each its task's schema with the given values on top and checked;
    an unknown task, key or value is one line."""
    nodes = []
    for name, values in (cfg.get("tasks") or {}).items():
        if name not in TASKS.names():
            raise ConfigError(f"tasks.{name}: no such task; {known_tasks(name)}")
        values = OmegaConf.to_container(values, resolve=True) if OmegaConf.is_config(values) else values
        if not isinstance(values, dict):
            raise ConfigError(f"tasks.{name}={values}: give the task's keys, for example +tasks.{name}.every=100")
        for key in values:
            if f"tasks.{name}.{key}" not in task_keys(name) and key != "name":
                raise unknown_key(f"tasks.{name}.{key}", {k.rpartition(".")[2]: k for k in task_keys(name)}, listed=True)
        try:
            node = TASKS.config(name, **{k: v for k, v in values.items() if k != "name"})
        except OmegaConfBaseException as ex:  # a value of the wrong type
            key = getattr(ex, "full_key", "") or ""
            raise ConfigError(f"tasks.{name}.{key}: {getattr(ex, 'msg', ex)}" if key else f"tasks.{name}: {ex}") from None
        TASKS.check(node)
        nodes.append(node)
    return nodes
