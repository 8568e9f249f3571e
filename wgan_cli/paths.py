"""Where wgan-cli keeps what it downloads or caches: ``$XDG_CACHE_HOME/wgan-cli`` (default ``~/.cache/wgan-cli``)."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from wgan_cli.errors import UserError, write_failed


def cache_dir(*parts: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "wgan-cli", *parts)


def check_writable(path: Path, flag: str, folder: bool = False) -> None:
    """Refuse, before any work, an output that cannot be written: ``path`` is a file to create (or
    with ``folder``, a folder to create and fill). Tried for real, with a temporary file where it
    would go: permission bits, read-only mounts and pseudo file systems all answer the same way."""
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


def check_not_input(out: Path, flag: str, inputs: Iterable[Path]) -> None:
    """Refuse, whatever ``--force`` says, an output that is one of the files the command reads: the
    same file after symlinks, or the same inode under another name (a hard link). ``inputs`` is
    only walked when ``out`` exists (a new file is no input)."""
    out = Path(out).expanduser()
    if not out.exists():
        return
    for source in inputs:
        try:
            same = Path(source).expanduser().exists() and os.path.samefile(out, source)
        except OSError:
            continue
        if same:
            also = "" if Path(source).expanduser().resolve() == out.resolve() else f" (it is {source})"
            raise UserError(f"{flag} {out}: is an input of this command{also}; writing it would destroy what is "
                            "being read; name another file")


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def check_new(path: Path, flag: str, force: bool, folder: bool = False) -> None:
    """Refuse, before any work, to replace what the user has: an existing file, or a folder that
    holds images, unless ``--force``."""
    path = Path(path).expanduser()
    if force:
        return
    if folder and path.is_dir():
        images = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        if images:
            raise UserError(f"{flag} {path}: the folder holds {len(images)} image(s); give --force to replace "
                            f"them, or name another folder")
    elif not folder and path.exists():
        raise UserError(f"{flag} {path}: exists; give --force to replace it")


def temporary_name(path: Path) -> Path:
    """``.NAME.PID.tmp.SUFFIX`` beside ``path``: the suffix kept, for writers that choose the format by it."""
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")


@contextmanager
def written_atomically(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; then fsync it and rename it over ``path``.
    A failed write (a full disk) removes the temporary file, leaves ``path`` as it was and raises
    one line. A folder (``path`` without a suffix) is filled first, then moved in: replacing our
    own ``NNNNNN.png`` names in an existing folder, keeping everything else."""
    path = Path(path).expanduser()
    tmp = temporary_name(path)
    kept = f"the previous {'folder' if path.is_dir() else 'file'} is intact" if path.exists() else "nothing was written"
    try:
        yield tmp
        if tmp.is_dir():
            if path.is_dir():
                for old in path.iterdir():
                    if old.suffix.lower() in IMAGE_SUFFIXES and old.stem.isdigit():
                        old.unlink()
                for new in sorted(tmp.iterdir()):
                    os.replace(new, path / new.name)
            else:
                os.replace(tmp, path)
        else:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
    except OSError as ex:
        raise write_failed(ex, path, kept) from None
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
