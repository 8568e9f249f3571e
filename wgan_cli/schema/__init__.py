"""The typed config nodes of the four option groups, importable without torch.

Each module declares its group's options: name -> (schema dataclass, implementation module).
Composing a config (``--help``, ``--cfg job``, shell completion) needs only these; the module
that implements an option is imported when a run first builds it (``Registry.get``).
``compose_config`` composes the config a run of given overrides would run, without running it.
"""

from __future__ import annotations

from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from wgan_cli.plugins import load_plugins
from wgan_cli.schema import critic, data, loss, model, task  # noqa: F401  (declares the options)


def compose_config(overrides: list[str]) -> DictConfig:
    """The config ``wgan-cli train OVERRIDES`` would run, composed without running it."""
    load_plugins()
    share_config_store()
    with initialize_config_module("wgan_cli.configs", version_base=None):
        return compose("config", overrides=overrides)


def share_config_store() -> None:
    """Hydra deep-copies its config repository, ConfigStore and every schema node in it, for each
    group it lists: about a hundred copies (5 s) for ``--help`` or one completion. Nothing mutates
    the store through a copy (the copy's sources are rebuilt on the same singleton), so the copies
    share it."""
    ConfigStore.__deepcopy__ = lambda self, memo: self
