"""The ``wgan-cli`` console script: a thin dispatcher over subcommands.

``wgan-cli train ...`` hands the rest of the command line to the Hydra app, so every Hydra
flag works there. Shell completion is routed too: the completion script Hydra installs calls
``wgan-cli -sc query=bash`` with ``COMP_LINE="wgan-cli train critic="``; the dispatcher drops
``train`` from COMP_LINE and asks the train app, or completes the flags of the other
subcommands itself (``wgan_cli.completion``). Neither path imports torch.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module
from importlib.metadata import version

from wgan_cli import __version__

# name -> (module with a ``main()``, one-line description)
SUBCOMMANDS = {
    "train": ("wgan_cli.train", "train a WGAN; a Hydra app (wgan-cli train --help lists its config groups)"),
    "report": ("wgan_cli.commands.report", "compare the runs of a sweep: a table (markdown/csv/json) and a PNG"),
    "sample": ("wgan_cli.commands.sample", "draw samples from a run's generator into a grid, .npy, .csv or folder"),
    "w1": ("wgan_cli.commands.w1", "W1 between two sample files: exact, LP primal/dual, sinkhorn, sliced, neural critic"),
    "fid": ("wgan_cli.commands.fid", "FID/KID between image folders, datasets, statistics and checkpoints"),
    "continue": ("wgan_cli.commands.continue_", "run a sweep (the newest, or a named one) again into its dir: "
                 "finished jobs are kept, others resume"),
}

USAGE = f"""usage: wgan-cli <command> [args...]

Wasserstein GAN experiments with exact-W1 ground truth (version {__version__}).

commands:
{chr(10).join(f"  {name:<9} {text}" for name, (_, text) in SUBCOMMANDS.items())}

options:
  -h, --help     show this message (wgan-cli help COMMAND: that command's)
  -V, --version  print the version

examples:
  wgan-cli train                                   # the default demo: 8 gaussians
  wgan-cli train critic=gp data=gaussians25 steps=20000
  wgan-cli train -m critic=clip,gp,sn seed=0,1 steps=1000  # a sweep: 6 runs
  wgan-cli report outputs/multirun/<date>/<time>   # its table and curves
  wgan-cli continue seed=0,1,2                     # the newest sweep again, one seed more
  wgan-cli fid outputs/<run dir> digits            # FID of a run's generator
  wgan-cli sample outputs/<run dir> --out grid.png # samples from it
  eval "$(wgan-cli -sc install=bash)"              # tab completion in this shell
  wgan-cli w1 a.npy b.npy --method all             # W1 five ways, with strong duality
  tensorboard --logdir outputs
"""


def _run(name: str, args: list[str]) -> None:
    prog = os.path.basename(sys.argv[0]) or "wgan-cli"
    sys.argv = [prog, *args]  # argv[0] stays the bare executable: Hydra's completion install uses it
    try:
        command = import_module(SUBCOMMANDS[name][0])
    except KeyboardInterrupt:  # Ctrl-C while the command loads (seconds on a busy machine), before it handles signals
        sys.stderr.write("wgan-cli: SIGINT: stopped while the command was starting; nothing was written\n")
        sys.exit(130)
    command.main()


def _complete(args: list[str]) -> None:
    line = os.environ.get("COMP_LINE", "")
    if not os.environ.get("COMP_POINT", "").isdigit():  # bash sets a cursor offset; anything else: the whole line
        os.environ.pop("COMP_POINT", None)
    if "COMP_POINT" in os.environ:
        line = line[: int(os.environ["COMP_POINT"])]  # what is left of the cursor
    words = line.split()
    querying = any(a.startswith("query") for a in args)
    completing_command = len(words) < 2 or (len(words) == 2 and not line.endswith(" "))
    if querying and completing_command:
        prefix = words[1] if len(words) == 2 else ""
        print(" ".join(n for n in SUBCOMMANDS if n.startswith(prefix)))
        return
    if querying and words[1] in SUBCOMMANDS and words[1] != "train":
        from wgan_cli.completion import complete  # lazy: keeps torch out of start-up

        current = "" if line.endswith(" ") else words[-1]
        before = words[2:] if line.endswith(" ") else words[2:-1]
        print(" ".join(complete(words[1], before, current)))
        return
    if len(words) >= 2 and words[1] in SUBCOMMANDS:
        os.environ["COMP_LINE"] = line.replace(f" {words[1]}", "", 1)
        if "COMP_POINT" in os.environ:
            os.environ["COMP_POINT"] = str(max(0, int(os.environ["COMP_POINT"]) - len(words[1]) - 1))
    _run("train", args)


def _version() -> str:
    return f"wgan-cli {__version__} (Hydra {version('hydra-core')})"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        sys.stderr.write(USAGE)
        sys.stderr.write("wgan-cli: error: give a command\n")
        sys.exit(2)
    if args[0] == "help" and len(args) > 1 and args[1] in SUBCOMMANDS:
        args = [args[1], "--help"]  # wgan-cli help fid = wgan-cli fid --help
    if args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return
    if args[0] in ("-V", "--version") or (args[0] in SUBCOMMANDS and args[1:2] in (["-V"], ["--version"])):
        print(_version())  # train --version would print Hydra's version alone
        return
    if args[0] in ("-sc", "--shell-completion") or args[0].startswith("--shell-completion="):
        _complete(args)
        return
    if args[0] not in SUBCOMMANDS:
        sys.stderr.write(
            f"wgan-cli: error: unknown command {args[0]!r}; choose one of {', '.join(SUBCOMMANDS)} "
            "(wgan-cli --help)\n"
        )
        sys.exit(2)
    _run(args[0], args[1:])


if __name__ == "__main__":
    main()
