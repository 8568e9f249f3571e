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

``fixed``: ``wgan-cli w1 --method probe`` (``held_out_w1``) on two fixed samples of N(0, I) and of
N(mu, I), ||mu|| = 0.5 (W1 = 0.5 exactly) in 2, 10 and 64 dimensions, ``--points`` per side: the
value / the closed form, its standard error, the updates early stopping kept, and beside it the
optimal potential f(x) = <x, -mu / ||mu||> read on the same held-out halves (what the best
possible 1-Lipschitz function reads there: the reading's own sampling noise).

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


def fixed(points: int, seeds: int) -> None:
    print("| dims | probe / W1 (median, range) | standard error / W1 | optimal potential on the same halves / W1 "
          "| updates | s |\n|---|---|---|---|---|---|")
    for d in (2, 10, 64):
        rows = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            mu = np.zeros(d)
            mu[0] = 0.5
            x, y = rng.standard_normal((points, d)), rng.standard_normal((points, d)) + mu
            r = held_out_w1(x, y, 3000, seed)
            g = torch.Generator().manual_seed(seed)  # the halves held_out_w1 read: its first two permutations
            px, py = torch.randperm(points, generator=g).numpy(), torch.randperm(points, generator=g).numpy()
            best = y[py[points // 2:], 0].mean() - x[px[points // 2:], 0].mean()
            rows.append((r["value"] / 0.5, r["se"] / 0.5, best / 0.5, r["updates"], r["seconds"]))
        v = [row[0] for row in rows]
        print(f"| {d} | {statistics.median(v):.3f} ({min(v):.3f}-{max(v):.3f}) | {statistics.median(r[1] for r in rows):.3f} "
              f"| {statistics.median(r[2] for r in rows):.3f} ({min(r[2] for r in rows):.3f}-{max(r[2] for r in rows):.3f}) "
              f"| {statistics.median(r[3] for r in rows):.0f} | {statistics.median(r[4] for r in rows):.1f} |", flush=True)


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
        fixed(args.points, args.seeds)
    else:
        digits(args.steps)


if __name__ == "__main__":
    main()
