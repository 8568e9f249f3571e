"""Shell completion of the argparse subcommands (``fid``, ``w1``, ``sample``, ``report``).

The bash function Hydra installs (``eval "$(wgan-cli -sc install=bash)"``) runs
``wgan-cli -sc query=bash`` with ``COMP_LINE`` set and offers the printed words that start with
the word under the cursor; when none does, bash completes file names (``complete -o default``).
So this prints: the flags of the subcommand, the values of a flag that has a fixed set (``--format``,
``--device``, ``--critic``...), and for ``fid``'s sources the dataset specs (``cifar10:train``);
paths are left to bash. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
from importlib import import_module


def _values(command: str, flag: str) -> list[str] | None:
    """The fixed values of ``flag`` (None: the flag takes a free value, e.g. a number or a path)."""
    if flag == "--device":
        from wgan_cli.config import DEVICES  # lazy: keeps torch out of start-up

        return list(DEVICES)
    if flag == "--threads":
        return ["auto"]  # or a number
    if command == "w1" and flag == "--method":
        from wgan_cli.commands.w1 import METHODS  # lazy: keeps torch out of start-up

        return [*METHODS, "all"]
    if command == "w1" and flag == "--critic":
        from wgan_cli.plugins import load_plugins  # lazy: keeps torch out of start-up
        from wgan_cli.schema.critic import STRATEGIES  # lazy: keeps torch out of start-up

        load_plugins()
        return [n for n in STRATEGIES.names() if STRATEGIES.schema(n).has_network]  # a critic to fit
    return None


def dataset_specs() -> list[str]:
    """``fid``'s dataset sources: each image dataset that needs no path, alone and with its splits."""
    from wgan_cli.schema.data import DATASETS, TorchvisionConfig  # lazy: keeps torch out of start-up

    specs = []
    for name in DATASETS.names():
        schema = DATASETS.schema(name)
        if name == "image_folder" or not hasattr(schema, "size"):
            continue
        specs.append(name)
        specs += [f"{name}:{split}" for split in (("train", "test") if issubclass(schema, TorchvisionConfig) else ("train",))]
    return specs


def complete(command: str, words: list[str], current: str) -> list[str]:
    """Completions of ``current`` after ``wgan-cli COMMAND WORDS...``, those that start with it."""
    return [c for c in _candidates(command, words, current) if c.startswith(current)]


def _candidates(command: str, words: list[str], current: str) -> list[str]:
    from wgan_cli.cli import SUBCOMMANDS  # lazy: cli imports this module

    parser: argparse.ArgumentParser = import_module(SUBCOMMANDS[command][0]).parser()
    flags = {s: a for a in parser._actions for s in a.option_strings if a.help != argparse.SUPPRESS}
    if current.startswith("-") and "=" in current:  # --format=cs
        flag, _, _ = current.partition("=")
        values = _values(command, flag) or list(getattr(flags.get(flag), "choices", None) or [])
        return [f"{flag}={v}" for v in values]
    previous = words[-1] if words else ""
    if previous in flags and flags[previous].nargs != 0:  # the value of the flag before the cursor
        return _values(command, previous) or list(flags[previous].choices or [])
    if current.startswith("-"):
        return sorted(s for s in flags if s.startswith("--") or len(s) == 2)
    if command == "fid":
        return dataset_specs()
    return []  # a path: bash's file-name completion
