"""Name -> implementation registries, one per config group.

Each implementation registers itself with the dataclass that types its config node; the
dataclass, with ``name`` set to the registered name, is also stored in Hydra's ConfigStore as
``schema/<group>/<name>``, which the group's yaml file extends, so a wrong key or a wrong type
is a composition error. The dataclass holds every default value (the yaml only selects) and
its range checks, ``check()``, which ``build`` runs first.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, TypeVar

from hydra.core.config_store import ConfigStore

from wgan_cli.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Implementations of one config group (``critic``, ``data``, ...), looked up by ``cfg.name``."""

    def __init__(self, group: str) -> None:
        self.group = group
        self._entries: dict[str, T] = {}
        self._schemas: dict[str, type] = {}

    def register(self, name: str, schema: type | None = None) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.group} {name!r} is registered twice")
            self._entries[name] = obj
            if schema is not None:
                self._schemas[name] = schema
            if schema is not None:  # the option's name is its ``name`` key: written once, here
                from omegaconf import OmegaConf

                node = OmegaConf.structured(schema)
                node.name = name
                ConfigStore.instance().store(group=f"schema/{self.group}", name=name, node=node)
            return obj

        return decorator

    def config(self, name: str, **values: Any) -> Any:
        """The config node of option ``name``: its schema's defaults, ``values`` on top."""
        from omegaconf import OmegaConf

        self.get(name)
        return OmegaConf.merge(OmegaConf.structured(self._schemas[name]), {"name": name, **values})

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str) -> T:
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
        import dataclasses

        from omegaconf import OmegaConf

        schema = self._schemas.get(cfg.name)
        if schema is None or not hasattr(schema, "check"):
            return
        node = cfg if dataclasses.is_dataclass(cfg) else schema(**OmegaConf.to_container(cfg, resolve=True))
        node.check()
