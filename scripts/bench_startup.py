"""Start-up time of the commands a person types most: help, config printing, tab completion.

    python scripts/bench_startup.py [--repeat 5]

Each command runs in a fresh process, ``--repeat`` times; the median wall time is printed with its
ratio to two references measured in the same run: a bare ``python -c pass`` and ``import torch``
(what every one of these commands paid before they stopped importing torch). The goal is under
1.5 s each on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

CLI = shutil.which("wgan-cli") or "wgan-cli"

COMMANDS = {
    "python -c pass": ([sys.executable, "-c", "pass"], {}),
    "python -c 'import torch'": ([sys.executable, "-c", "import torch"], {}),
    "wgan-cli --help": ([CLI, "--help"], {}),
    "wgan-cli train --help": ([CLI, "train", "--help"], {}),
    "wgan-cli train --cfg job critic=gp": ([CLI, "train", "--cfg", "job", "critic=gp"], {}),
    "wgan-cli train --info defaults": ([CLI, "train", "--info", "defaults"], {}),
    "complete: wgan-cli train critic=<TAB>": ([CLI, "-sc", "query=bash"], {"COMP_LINE": "wgan-cli train critic="}),
    "complete: wgan-cli fid --<TAB>": ([CLI, "-sc", "query=bash"], {"COMP_LINE": "wgan-cli fid --"}),
    "wgan-cli fid --help": ([CLI, "fid", "--help"], {}),
}


def timed(argv: list[str], env: dict[str, str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, env={**os.environ, **env}, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    results = {name: timed(argv, env, args.repeat) for name, (argv, env) in COMMANDS.items()}
    bare, torch_import = results["python -c pass"], results["python -c 'import torch'"]
    print(f"{'command':<40} {'median s':>9} {'/ bare python':>14} {'/ import torch':>15}")
    for name, seconds in results.items():
        print(f"{name:<40} {seconds:9.2f} {seconds / bare:14.1f} {seconds / torch_import:15.2f}")


if __name__ == "__main__":
    main()
