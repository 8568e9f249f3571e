"""Where wgan-cli keeps what it downloads or caches: ``$XDG_CACHE_HOME/wgan-cli`` (default ``~/.cache/wgan-cli``)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "wgan-cli", *parts)
