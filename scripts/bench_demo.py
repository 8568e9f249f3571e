"""Measure the default demo: wall time of `wgan-cli train` (the real CLI, startup included),
final exact W1 against the noise floor, over several seeds.

    python scripts/bench_demo.py [--seeds 0,1,2] [extra overrides...]

The issue's target: at most 2 minutes on a 2-core CPU and w1/exact <= 2 x w1/noise_floor.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2],
                        help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    cli = str(Path(sys.executable).with_name("wgan-cli"))
    print(f"device: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            run_dir = Path(tmp) / f"seed{seed}"
            start = time.perf_counter()
            subprocess.run([cli, "train", f"seed={seed}", *args.overrides, f"hydra.run.dir={run_dir}"],
                           check=True, capture_output=True)
            wall = time.perf_counter() - start
            exact, floor = last_value(run_dir, "w1/exact"), last_value(run_dir, "w1/noise_floor")
            rows.append((seed, wall, exact, floor, exact / floor))
            print(f"seed {seed}: {wall:6.1f} s  w1/exact {exact:.4f}  w1/noise_floor {floor:.4f}  ratio {exact / floor:.2f}",
                  flush=True)
    walls, ratios = [r[1] for r in rows], [r[4] for r in rows]
    print(f"wall time: mean {statistics.mean(walls):.1f} s, max {max(walls):.1f} s (target <= 120 s)")
    print(f"exact / noise floor: mean {statistics.mean(ratios):.2f}, max {max(ratios):.2f} (target <= 2)")


if __name__ == "__main__":
    main()
