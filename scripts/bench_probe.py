"""The held-out probe against distances known in closed form, and its cost inside an image run.

    python scripts/bench_probe.py fresh [--seeds 3] [--readings 4]
    python scripts/bench_probe.py fixed [--points 2000] [--seeds 3]
    python scripts/bench_probe.py digits [--steps 300]
    python scripts/bench_probe.py runs RUN_DIR...

``fresh``: the probe as it runs inside training (``Probe.measure``: fresh draws for every update,
warm-started from reading to reading, read on a held-out draw), the generator held still: P
against P + mu, W1 = ||mu|| exactly. P is N(0, I) in 2, 10 and 64 dimensions (the probe's vector
defaults, an MLP), and image-shaped data, 3 x 32 x 32, pixels tanh(B z / 4) with z ~ N(0, I_16)
and B fixed (the image defaults, a conv net). After each of ``--readings`` readings: the value /
the closed form, the empirical Lipschitz constant, the seconds.

``fixed``: ``wgan-cli w1 --method probe`` (``held_out_w1``) on two fixed samples, ``--points`` per
side, in each of ``--dims``: a shift, N(0, I) against N(e_1, I), whose optimal witness is linear,
and a radial pair, N(0, I) against N(0, s^2 I) with s chosen so that W1 = 1, whose optimal witness
is the norm (curved; the means agree, so the linear witness reads 0). W1 = 1 for both in every
dimension. The value / W1, its standard error, the witnesses the folds kept, and the
optimal potential read on the same points (what the best 1-Lipschitz function reads there: the
reading's own sampling noise).

``digits``: ``data=digits`` with its defaults: seconds per training step (timed over ``--steps``),
seconds per probe reading, so the probe's share of a 3000-step run; and the probe's noise floor,
the probe between the held-out digits and draws from the rest of the digits (0 for a perfect
generator, up to the reading's noise).

``runs``: for each run dir (``wgan-cli train data=digits fid.every=500 seed=S``), the probe, FID,
exact W1 and the training critic at each evaluation, and the Spearman rank correlation of the
probe and of the critic with FID over them (does the probe fall as FID falls?).
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from wgan_cli.training.probe import RealDraws, held_out_w1


class Shifted:
    """P (``sample``) and, through ``noise`` and an identity 'generator', P + mu."""

    def __init__(self, shape: tuple[int, ...], length: float, seed: int) -> None:
        self.shape = shape
        dim = int(np.prod(shape))
        self.basis = torch.randn(16, dim, generator=torch.Generator().manual_seed(0)) if len(shape) > 1 else None
        mu = torch.randn(dim, generator=torch.Generator().manual_seed(seed + 1))
        self.mu = (length * mu / mu.norm()).view(shape)

    def count(self) -> int:
        return 0

    def sample(self, n: int, g: torch.Generator) -> torch.Tensor:
        if self.basis is None:
            return torch.randn(n, *self.shape, generator=g)
        return torch.tanh(torch.randn(n, 16, generator=g) @ self.basis / 4).view(n, *self.shape)

    def moved(self, n: int, g: torch.Generator) -> torch.Tensor:
        return self.sample(n, g) + self.mu


def fresh(seeds: int, readings: int) -> None:
    from torch import nn

    from wgan_cli.schema import compose_config
    from wgan_cli.training.probe import Probe

    cases = [((2,), 0.5, []), ((10,), 0.5, []), ((64,), 0.5, []),
             ((3, 32, 32), 2.0, ["data=cifar10"])]  # the image defaults (data=cifar10 only composes; nothing is read)
    print("| P | W1 | " + " | ".join(f"reading {i + 1} / W1" for i in range(readings)) + " | L_emp | s a reading |")
    print("|---|---|" + "---|" * readings + "---|---|")
    for shape, length, overrides in cases:
        cfg = compose_config(overrides).probe
        rows = []
        for seed in range(seeds):
            data = Shifted(shape, length, seed)
            probe = Probe(cfg, shape, torch.device("cpu"), seed)
            values, times, lips = [], [], []
            for _ in range(readings):
                start = time.perf_counter()
                v = probe.measure(data, nn.Identity(), data.moved)
                times.append(time.perf_counter() - start)
                values.append(v["w1/probe"] / length)
                lips.append(v["lipschitz/probe"])
            rows.append((values, max(lips), statistics.fmean(times)))
        cells = [statistics.median(r[0][i] for r in rows) for i in range(readings)]
        name = "N(0, I)" if len(shape) == 1 else "tanh(B z / 4)"
        print(f"| {name}, {'x'.join(map(str, shape))} | {length} | " + " | ".join(f"{c:.3f}" for c in cells)
              + f" | {max(r[1] for r in rows):.4f} | {statistics.median(r[2] for r in rows):.1f} |", flush=True)


def radial_scale(d: int) -> float:
    """s with W1(N(0, I_d), N(0, s^2 I_d)) = 1: both are radial, so W1 is the 1-D W1 of their norms,
    (s - 1) E||X|| under the coupling x -> s x, with E||X|| = sqrt(2) Gamma((d + 1) / 2) / Gamma(d / 2)."""
    mean_norm = math.sqrt(2) * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))
    return 1 + 1 / mean_norm


def fixed(points: int, seeds: int, dims: list[int], updates: int) -> None:
    print("| pair (W1 = 1) | dims | probe / W1 (median, range) | standard error | witnesses kept (linear / spread / network) "
          "| optimal potential on the same points | s |\n|---|---|---|---|---|---|---|")
    for pair in ("shift", "radial"):
        for d in dims:
            rows = []
            for seed in range(seeds):
                rng = np.random.default_rng(seed)
                x = rng.standard_normal((points, d))
                if pair == "shift":  # N(0, I) against N(e_1, I): the optimal potential is <x, e_1>
                    y = rng.standard_normal((points, d))
                    y[:, 0] += 1
                    best = y[:, 0].mean() - x[:, 0].mean()
                else:  # N(0, s^2 I) against N(0, I): the optimal potential is ||x||
                    y = radial_scale(d) * rng.standard_normal((points, d))
                    best = np.linalg.norm(y, axis=1).mean() - np.linalg.norm(x, axis=1).mean()
                r = held_out_w1(y, x, updates, seed)
                rows.append((r["value"], r["se"], r["witnesses"], best, r["seconds"]))
            v = [row[0] for row in rows]
            kept = [sum(row[2].count(kind) for row in rows) for kind in ("linear", "spread", "network")]
            print(f"| {pair} | {d} | {statistics.median(v):.3f} ({min(v):.3f}-{max(v):.3f}) "
                  f"| {statistics.median(r[1] for r in rows):.3f} | {' / '.join(map(str, kept))} "
                  f"| {statistics.median(r[3] for r in rows):.3f} | {statistics.median(r[4] for r in rows):.1f} |", flush=True)


def digits(steps: int) -> None:
    from torch import nn

    from wgan_cli.schema import compose_config
    from wgan_cli.training import Trainer

    with tempfile.TemporaryDirectory() as run_dir:
        t = Trainer(compose_config(["data=digits", "fid.every=0"]), run_dir)
        cfg = t.cfg
        start = time.perf_counter()
        for _ in range(steps):
            t.train_step()
        per_step = (time.perf_counter() - start) / steps
        readings = []
        for _ in range(2):
            start = time.perf_counter()
            t.probe.measure(t.data, t.sampler, t.noise)
            readings.append(time.perf_counter() - start)
        count = cfg.steps // cfg.probe.every
        probe_s, train_s = count * statistics.fmean(readings), cfg.steps * per_step
        print(f"data=digits, {torch.get_num_threads()} thread(s): {per_step * 1000:.1f} ms a step, "
              f"{statistics.fmean(readings):.2f} s a probe reading ({cfg.probe.updates} updates of {cfg.probe.batch}, "
              f"width {cfg.probe.width}); {count} readings in {cfg.steps} steps: {probe_s:.0f} s against "
              f"{train_s:.0f} s of training, {probe_s / (probe_s + train_s):.0%} of the two")
        draws = RealDraws(t.data, cfg.probe.n, cfg.seed)  # the 'generator' draws real digits the reading never sees
        floor = t.probe.__class__(cfg.probe, t.data.shape, t.device, cfg.seed)  # the same split
        values = floor.measure(t.data, nn.Identity(), lambda n, g: draws.fit(n, g))
        print(f"the probe's noise floor (held-out digits against other real digits): {values['w1/probe']:.3f} "
              f"+- {values['w1/probe_se']:.3f}")


def runs(dirs: list[str]) -> None:
    from scipy.stats import spearmanr
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for run_dir in dirs:
        values: dict[str, dict[int, float]] = {}
        for sub in sorted(Path(run_dir, "tb").glob("**/events.out.tfevents.*")):
            acc = EventAccumulator(str(sub.parent), size_guidance={"scalars": 0})
            acc.Reload()
            for tag in acc.Tags()["scalars"]:
                values.setdefault(tag, {}).update({e.step: e.value for e in acc.Scalars(tag)})
        fid = next(tag for tag in values if tag.startswith("fid/fid"))
        steps = sorted(set(values[fid]) & set(values["w1/probe"]))
        print(f"{run_dir}\n\n| step | {fid} | w1/probe (+- se) | w1/exact | w1/critic |\n|---|---|---|---|---|")
        for step in steps:
            print(f"| {step} | {values[fid][step]:.1f} | {values['w1/probe'][step]:.3f} +- {values['w1/probe_se'][step]:.3f} "
                  f"| {values['w1/exact'][step]:.3f} | {values['w1/critic'][step]:.3f} |")
        by = {tag: [values[tag][s] for s in steps] for tag in (fid, "w1/probe", "w1/critic")}
        print(f"\nSpearman with FID over {len(steps)} evaluations: w1/probe "
              f"{spearmanr(by['w1/probe'], by[fid]).statistic:.2f}, w1/critic {spearmanr(by['w1/critic'], by[fid]).statistic:.2f}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=("fresh", "fixed", "digits", "runs"))
    parser.add_argument("dirs", nargs="*", help="runs: the run dirs")
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--dims", type=int, nargs="+", default=[3, 32, 128])
    parser.add_argument("--updates", type=int, default=1000, help="fixed: at most this many probe updates a fold")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--readings", type=int, default=4)
    args = parser.parse_args()
    if args.part != "digits":  # small nets: one thread, as the runs' thread policy (wgan_cli/threads.py) picks
        torch.set_num_threads(1)
    if args.part == "fresh":
        fresh(args.seeds, args.readings)
    elif args.part == "runs":
        runs(args.dirs)
    elif args.part == "fixed":
        fixed(args.points, args.seeds, args.dims, args.updates)
    else:
        digits(args.steps)


if __name__ == "__main__":
    main()
