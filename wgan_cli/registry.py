"""Name -> implementation registries, one per config group.

An option has a dataclass that types its config node; the dataclass, with ``name`` set to the
option's name, is stored in Hydra's ConfigStore as ``schema/<group>/<name>``, which the group's
yaml file extends, so a wrong key or a wrong type is a composition error. The dataclass holds
every default value (the yaml only selects) and its range checks, ``check()``, which ``build``
runs first.

Built-in options are *declared* (``declare``: name, schema, implementation module) in the
torch-free ``wgan_cli.schema`` modules, so that composing a config never imports torch; the
implementation module registers its class (``register``) when ``get`` first imports it. A
plugin may do the same, or ``register`` schema and implementation in one go.
"""

from __future__ import annotations

import dataclasses
from importlib import import_module
from typing import Any, Callable, Generic, TypeVar

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from wgan_cli.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Implementations of one config group (``critic``, ``data``, ...), looked up by ``cfg.name``."""

    def __init__(self, group: str) -> None:
        self.group = group
        self._entries: dict[str, T] = {}
        self._schemas: dict[str, type] = {}
        self._modules: dict[str, str] = {}  # declared option -> the module that registers it

    def declare(self, name: str, schema: type, module: str) -> None:
        """Option ``name`` of this group: its config schema now, its implementation imported from
        ``module`` (which must ``register`` it) when first needed."""
        self._modules[name] = module
        self._store(name, schema)

    def _store(self, name: str, schema: type) -> None:
        if self._schemas.get(name) is schema:
            return
        if name in self._schemas:
            raise ValueError(f"{self.group} {name!r} is declared twice with different schemas")
        self._schemas[name] = schema
        node = OmegaConf.structured(schema)
        node.name = name  # the option's name is its ``name`` key: written once, here
        ConfigStore.instance().store(group=f"schema/{self.group}", name=name, node=node)

    def register(self, name: str, schema: type | None = None) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.group} {name!r} is registered twice")
            self._entries[name] = obj
            if schema is not None:
                self._store(name, schema)
            return obj

        return decorator

    def remove(self, name: str) -> None:
        """Undo ``register`` and the schema it stored (a test takes back the options it added)."""
        self._entries.pop(name, None)
        if self._schemas.pop(name, None) is not None:
            ConfigStore.instance().repo["schema"][self.group].pop(f"{name}.yaml", None)

    def config(self, name: str, **values: Any) -> Any:
        """The config node of option ``name``: its schema's defaults, ``values`` on top."""
        return OmegaConf.merge(OmegaConf.structured(self.schema(name)), {"name": name, **values})

    def names(self) -> list[str]:
        return sorted(set(self._entries) | set(self._modules))

    def schema(self, name: str) -> type:
        """The config dataclass of option ``name`` (a declared option's without importing its module)."""
        if name not in self._schemas:
            self.get(name)
        return self._schemas[name]

    def get(self, name: str) -> T:
        if name not in self._entries and name in self._modules:
            import_module(self._modules[name])
            if name not in self._entries:
                raise ValueError(f"{self._modules[name]} does not register {self.group} {name!r}")
        if name not in self._entries:
            raise ConfigError(
                f"{self.group}.name={name}: unknown {self.group}; choose one of {', '.join(self.names())}"
            )
        return self._entries[name]

    def build(self, cfg: Any, *args: Any, **kwargs: Any) -> Any:
        """Run the schema's ``check()`` on ``cfg``'s values, then instantiate the implementation
        named by ``cfg.name`` with ``(cfg, *args, **kwargs)``."""
        entry = self.get(cfg.name)
        self.check(cfg)
        return entry(cfg, *args, **kwargs)

    def check(self, cfg: Any) -> None:
        """The range checks of ``cfg``'s schema (its dataclass's ``check`` method), if any."""
        schema = self._schemas.get(cfg.name)
        if schema is None or not hasattr(schema, "check"):
            return
        node = cfg if dataclasses.is_dataclass(cfg) else schema(**OmegaConf.to_container(cfg, resolve=True))
        node.check()
