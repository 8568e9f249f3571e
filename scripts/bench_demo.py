"""Measure the default demo: wall time of `wgan-cli train` (the real CLI, startup included),
final exact W1 against the noise floor, over several seeds; for each thread setting of
``--threads`` (``train.threads``), and with ``--busy`` while one spinning process per core holds
the machine (started and stopped here), the wall time against the best setting's.

    python scripts/bench_demo.py [--seeds 0,1,2] [--threads auto,1,2] [--busy] [extra overrides...]

Targets: at most 60 s idle and 120 s busy on a 2-core CPU, w1/exact <= 2 x w1/noise_floor, and
the auto setting within 1.05x (idle) and 1.3x (busy) of the best one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def last_value(run_dir: Path, tag: str) -> float:
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    return acc.Scalars(tag)[-1].value


@contextlib.contextmanager
def busy(n: int):
    """``n`` processes that spin on a core each, for as long as the block runs."""
    spin = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for p in spin:
            p.kill()
            p.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2],
                        help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--threads", default="auto", help="comma-separated train.threads settings (default auto)")
    parser.add_argument("--busy", action="store_true", help="one spinning process per core while measuring")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    cli = str(Path(sys.executable).with_name("wgan-cli"))
    print(f"device: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d')}, {'busy: one spinning process per core' if args.busy else 'idle'} "
          f"(load average before {os.getloadavg()[0]:.2f})")
    settings = args.threads.split(",")
    rows = {t: [] for t in settings}
    with tempfile.TemporaryDirectory() as tmp, busy(os.cpu_count() or 1) if args.busy else contextlib.nullcontext():
        for seed in args.seeds:
            for threads in settings:  # interleaved, so a drift in load hits every setting
                run_dir = Path(tmp) / f"seed{seed}-{threads}"
                start = time.perf_counter()
                subprocess.run([cli, "train", f"seed={seed}", f"train.threads={threads}", *args.overrides,
                                f"hydra.run.dir={run_dir}"], check=True, capture_output=True)
                wall = time.perf_counter() - start
                exact, floor = last_value(run_dir, "w1/exact"), last_value(run_dir, "w1/noise_floor")
                rows[threads].append((wall, exact / floor))
                print(f"seed {seed}, train.threads={threads}: {wall:6.1f} s  w1/exact {exact:.4f}  "
                      f"w1/noise_floor {floor:.4f}  ratio {exact / floor:.2f}", flush=True)
    best = min(statistics.mean(w for w, _ in r) for r in rows.values())
    for threads, r in rows.items():
        walls, ratios = [w for w, _ in r], [q for _, q in r]
        print(f"train.threads={threads}: wall mean {statistics.mean(walls):.1f} s (max {max(walls):.1f} s), "
              f"{statistics.mean(walls) / best:.2f}x the best setting; exact / floor mean {statistics.mean(ratios):.2f}")


if __name__ == "__main__":
    main()
