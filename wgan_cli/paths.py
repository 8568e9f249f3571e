"""Where wgan-cli keeps what it downloads or caches: ``$XDG_CACHE_HOME/wgan-cli`` (default ``~/.cache/wgan-cli``)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "wgan-cli", *parts)


def check_writable(path: Path, flag: str, folder: bool = False) -> None:
    """Refuse, before any work, an output that cannot be written: ``path`` is a file to create (or
    with ``folder``, a folder to create and fill). Tried for real, with a temporary file where it
    would go: permission bits, read-only mounts and pseudo file systems all answer the same way."""
    import tempfile

    from wgan_cli.errors import UserError

    path = Path(path).expanduser()
    target = path if folder else path.parent
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not folder and not target.is_dir():
        raise UserError(f"{flag} {path}: folder {target} does not exist")
    if not existing.is_dir():
        raise UserError(f"{flag} {path}: {existing} is a file, not a folder")
    if not folder and path.is_dir():
        raise UserError(f"{flag} {path}: is a folder; give a file name")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".wgan-cli-write-test-"):
            pass
    except OSError as ex:
        raise UserError(f"{flag} {path}: cannot write in {existing} ({ex.strerror or ex})") from None
