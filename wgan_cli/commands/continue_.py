"""``wgan-cli continue [DIR] [OVERRIDES...]``: run a sweep (or a single run) again from what its dir
recorded, without retyping its command or remembering its dir.

A sweep dir holds ``.jobs.json`` (the overrides of the command that made it, written as every
multirun starts, whatever its sweeper); a run dir holds ``.hydra/overrides.yaml``. The same
command is run again into the same dir: each job whose overrides match a job dir there resumes it (a finished one is only evaluated again), new ones are
added. Overrides given here replace those of the same key (``seed=0,1,2`` widens a seed sweep).
Without DIR: the newest sweep under ``outputs/multirun``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from wgan_cli.commands import run_command
from wgan_cli.errors import UserError
from wgan_cli.sweep import JOBS, override_key

SWEEPS = Path("outputs/multirun")  # where Hydra's default hydra.sweep.dir puts sweeps (configs/config.yaml)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wgan-cli continue",
        description="Run a sweep or a run again into its own dir, with the overrides it recorded: unfinished "
        "jobs resume, finished ones are not trained again, new ones are added.",
        epilog="examples: wgan-cli continue   (the newest sweep under outputs/multirun);  "
        "wgan-cli continue outputs/multirun/2026-12-07/10-00-00 seed=0,1,2 steps=6000",
    )
    p.add_argument("dir", metavar="DIR", nargs="?", help="a sweep dir or a run dir; default: the "
                   f"newest sweep under {SWEEPS}")
    p.add_argument("overrides", metavar="OVERRIDES", nargs="*", help="key=value overrides replacing the recorded ones")
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    args = parser().parse_args(argv)
    if args.dir is not None and "=" in args.dir:  # an override, not a dir: the newest sweep
        args.overrides, args.dir = [args.dir, *args.overrides], None
    return args


def newest_sweep(root: Path = SWEEPS) -> Path:
    found = sorted(root.glob(f"*/*/{JOBS}"), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    if not found:
        raise UserError(f"no sweep under {root} (looked for {root}/<date>/<time>/{JOBS}); name its dir: "
                        "wgan-cli continue DIR")
    return found[-1].parent


def command(folder: Path, extra: list[str]) -> list[str]:
    """The ``wgan-cli train`` arguments that run ``folder``'s command again into ``folder``."""
    from omegaconf import OmegaConf  # lazy: keeps omegaconf out of start-up

    replaced = {override_key(o) for o in extra}
    try:
        sweep = json.loads((folder / JOBS).read_text())  # what every sweep records as it starts
    except (OSError, ValueError):
        sweep = None
    if sweep is not None:
        hydra_overrides = [o for o in sweep["hydra"]  # -m and the dir are given below
                           if not o.startswith(("hydra.sweep.dir=", "hydra.mode="))]
        kept = [o for o in sweep["task"] + hydra_overrides if override_key(o) not in replaced]
        return ["-m", *kept, *extra, f"hydra.sweep.dir={folder}"]
    record = folder / ".hydra" / "overrides.yaml"
    if record.is_file():
        kept = [str(o) for o in OmegaConf.load(record) if override_key(str(o)) not in replaced]
        return [*kept, *extra, f"hydra.run.dir={folder}"]
    raise UserError(f"{folder}: neither a sweep dir ({JOBS}) nor a run dir (.hydra/overrides.yaml)")


def continue_(args: argparse.Namespace) -> list[str]:
    folder = Path(args.dir).expanduser() if args.dir else newest_sweep()
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    argv = command(folder, args.overrides)
    print("wgan-cli train " + " ".join(argv), file=sys.stderr)
    return argv


def main() -> None:
    args = parse_args(sys.argv[1:])
    argv = run_command(lambda: continue_(args))
    from wgan_cli import train  # lazy: the Hydra app loads only here

    sys.argv = [sys.argv[0], *argv]  # as wgan-cli train ARGV: the Hydra app reads its command line
    train.main()
