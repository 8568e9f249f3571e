"""Components from other packages, through the entry point group ``wgan_cli.plugins``.

A package declares in its ``pyproject.toml``::

    [project.entry-points."wgan_cli.plugins"]
    div = "wgan_div"            # a module to import

Before a config is composed, wgan-cli imports each such module, so its ``@STRATEGIES.register``,
``@DATASETS.register``, ``@MODELS.register`` and ``@LOSSES.register`` decorators run, and adds the
module's ``configs/<group>/<option>.yaml`` files to the config groups, as if they sat in
``wgan_cli/configs/<group>/``. ``wgan-cli train critic=div`` then composes and trains with it.
"""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from wgan_cli.errors import ConfigError

ENTRY_POINT_GROUP = "wgan_cli.plugins"
_loaded: list[str] | None = None


def load_plugins() -> list[str]:
    """Import every installed plugin once and register its configs; returns their names."""
    global _loaded
    if _loaded is not None:
        return _loaded
    _loaded = []
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            module = entry.load()
        except Exception as ex:  # noqa: BLE001 - any import error of a third-party module
            raise ConfigError(f"plugin {entry.name} = {entry.value}: cannot import it: {type(ex).__name__}: {ex}") from ex
        register_configs(module)
        _loaded.append(entry.name)
    return _loaded


def register_configs(module: ModuleType) -> list[str]:
    """Store ``<module folder>/configs/<group>/<option>.yaml`` in Hydra's ConfigStore as the
    option ``<option>`` of ``<group>`` (its ``# @package`` header kept). Returns ``group/option``s."""
    from hydra.core.config_store import ConfigStore  # lazy: keeps hydra out of start-up
    from omegaconf import OmegaConf  # lazy: keeps omegaconf out of start-up

    folder = Path(module.__file__).parent / "configs"
    stored = []
    for path in sorted(folder.rglob("*.yaml")) if folder.is_dir() else []:
        group = path.parent.relative_to(folder).as_posix()
        if group == ".":
            continue
        header = re.search(r"^#\s*@package\s+(\S+)", path.read_text(), re.MULTILINE)
        ConfigStore.instance().store(group=group, name=path.stem, node=OmegaConf.load(path),
                                     package=header.group(1) if header else None, provider=module.__name__)
        stored.append(f"{group}/{path.stem}")
    return stored
