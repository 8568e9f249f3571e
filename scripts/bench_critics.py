"""The calibration table: how close each critic's estimate comes to the exact W1.

    python scripts/bench_critics.py [--n 1000] [--seeds 3] [--steps 1000] [--critics clip,gp,...]
                                    [--depth 3] [--pairs gaussians,...] [--training] [--json out.json]

For fixed pairs of samples (n points per side, exact W1 by ``ot.emd2`` on those same points), each
critic is fitted through ``wgan_cli.training.critic_fit.fit_critic`` -- the code behind
``wgan-cli w1 --method critic`` -- with its strategy's own recipe (optimizer, lr_d, betas, decay),
an MLP of width 128 and depth ``--depth`` (3), for ``--steps`` critic updates. Printed per pair and critic:
the estimate / exact ratio (median and range over seeds), the empirical Lipschitz constant L_emp
(max |f(u) - f(v)| / ||u - v|| over pairs of 1000 + 1000 sampled points), the certified lower
bound (estimate / L_emp) / exact, and the fit time. ``sinkhorn`` has no network: its row is the
debiased Sinkhorn divergence S_eps (geomloss, p=1, blur 0.05 in the data's units) on the same points.
``probe`` is the held-out probe (``wgan-cli w1 --method probe``): cross-fitted witnesses, each
read on points it was not fitted on. The pairs named "vs its shift" are a distribution against an
independent sample of itself moved by a vector mu, whose population W1 is ||mu|| in any dimension
(2-D, 10-D, 64-D and 3072-D image-shaped data), read best by a linear witness; the "radial" pairs
are N(0, s^2 I) against N(0, I) with W1 = 1 (2-D, 64-D, 3072-D), read best by the norm, a curved
witness: there "estimate / closed form" is the calibration; on the pairs marked "sample exact"
only the exact W1 between the two samples is known.

``--training`` adds the training runs: critic=orthonormal and critic=sn_ttur on gaussians8 with the
generator held almost still (optim.lr_g=1e-8, so exact W1 stays far above the noise floor), and a
normal critic=orthonormal run, reporting w1/critic_ratio (critic / exact) at each evaluation.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import ot
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wgan_cli.data import DATASETS  # noqa: E402
from wgan_cli.train import compose_config  # noqa: E402,F401  (registers every component)
from wgan_cli.training.critic_fit import fit_critic  # noqa: E402
from wgan_cli.training.probe import held_out_w1  # noqa: E402

from bench_probe import radial_scale  # noqa: E402  (this script's folder is on sys.path)

CRITICS = ("clip", "gp", "lp", "sn", "orthonormal", "sinkhorn", "probe")
WIDTH = 128


def toy(name: str, n: int, seed: int) -> np.ndarray:
    source = DATASETS.build(DATASETS.config(name), torch.device("cpu"))
    return source.sample(n, torch.Generator().manual_seed(seed)).double().numpy()


def segments(n: int, theta: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The WGAN paper's example: P0 = (0, Z), P_theta = (theta, Z), Z ~ U[0, 1]; W1 = |theta|."""
    z1, z2 = rng.uniform(size=n), rng.uniform(size=n)
    return np.stack([np.zeros(n), z1], 1), np.stack([np.full(n, theta), z2], 1)


def all_digits() -> np.ndarray:
    """sklearn's 1797 8x8 digits in [0, 1], flattened (64-D)."""
    from sklearn.datasets import load_digits

    return load_digits().data / 16.0


def digits(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` digits against the same digits plus N(0, 0.1^2) noise."""
    x = all_digits()
    x = x[rng.permutation(len(x))[:n]]
    return x, x + 0.1 * rng.standard_normal(x.shape)


def shifted(x: np.ndarray, y: np.ndarray, length: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two independent samples of P, the second moved by a random vector mu of the given length:
    W1(P, P + mu) = ||mu|| exactly, for every P and in any dimension (the translation is an
    optimal coupling; the linear potential <mu, x> / ||mu|| attains it)."""
    mu = rng.standard_normal(x.shape[1])
    return x, y + length * mu / np.linalg.norm(mu)


def images(n: int, rng: np.random.Generator) -> np.ndarray:
    """Image-shaped data, 3 x 32 x 32 flattened (3072-D): a fixed random low-rank image
    distribution, pixels = tanh(B z / 4) with z ~ N(0, I_16) and B fixed (seed 0)."""
    basis = np.random.default_rng(0).standard_normal((16, 3 * 32 * 32))
    return np.tanh(rng.standard_normal((n, 16)) @ basis / 4)


def digit_halves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random sets of the digits, up to 898 each."""
    x = all_digits()
    half = min(n, len(x) // 2)
    order = rng.permutation(len(x))
    return x[order[:half]], x[order[half:2 * half]]


def pairs(n: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray, float | None]]:
    """name -> (x, y, W1 in closed form where known). The "vs its shift" pairs know their population
    W1 in every dimension; on the others only the exact W1 between the two samples is known."""
    rng = np.random.default_rng(seed)
    g8 = toy("gaussians8", n, seed)
    m = np.zeros(10)
    m[0] = 0.5
    embed = np.linalg.qr(np.random.default_rng(0).standard_normal((64, 2)))[0].T  # 2-D -> 64-D, isometric
    out = {
        "8 gaussians vs N(0, I) (sample exact)": (g8, rng.standard_normal((n, 2)), None),
        "8 gaussians vs the same x 0.7 (sample exact)": (g8, 0.7 * toy("gaussians8", n, seed + 1000), None),
        "25 gaussians vs swissroll (sample exact)": (toy("gaussians25", n, seed), toy("swissroll", n, seed), None),
        "10-D gaussians 0.5 apart": (rng.standard_normal((n, 10)), rng.standard_normal((n, 10)) + m, 0.5),
    }
    for theta in (0.1, 0.5, 2.0):
        x, y = segments(n, theta, rng)
        out[f"disjoint segments, theta {theta}"] = (x, y, theta)
    x, y = digits(n, rng)
    out["digits vs digits + noise (64-D) (sample exact)"] = (x, y, None)
    # drawn after the pairs above, which keep the draws they had before these were added
    out["8 gaussians vs its shift 0.5"] = (*shifted(g8, toy("gaussians8", n, seed + 2000), 0.5, rng), 0.5)
    out["8 gaussians in 64-D vs its shift 0.5"] = (
        *shifted(g8 @ embed, toy("gaussians8", n, seed + 3000) @ embed, 0.5, rng), 0.5)
    out["digits (64-D) vs its shift 0.5"] = (*shifted(*digit_halves(n, rng), 0.5, rng), 0.5)
    out["images 3x32x32 vs its shift 2"] = (*shifted(images(n, rng), images(n, rng), 2.0, rng), 2.0)
    radial = np.random.default_rng(seed + 4000)
    for d in (2, 64, 3072):  # the means agree: no linear witness reads anything
        out[f"radial N(0, s^2 I) vs N(0, I), {d}-D"] = (
            radial_scale(d) * radial.standard_normal((n, d)), radial.standard_normal((n, d)), 1.0)
    return out


def exact_w1(x: np.ndarray, y: np.ndarray) -> float:
    return float(ot.emd2(np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y)), ot.dist(x, y, "euclidean"),
                         numItermax=10**7))


def sinkhorn(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from geomloss import SamplesLoss

    start = time.perf_counter()
    value = SamplesLoss("sinkhorn", p=1, blur=0.05, scaling=0.9, debias=True)(
        torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)).item()
    return value, time.perf_counter() - start


def calibrate(args: argparse.Namespace) -> list[dict]:
    rows: dict[tuple[str, str], dict] = {}
    for seed in range(args.seeds):
        for pair, (x, y, closed) in pairs(args.n, seed).items():
            if args.pairs and not any(word in pair for word in args.pairs):
                continue
            exact = exact_w1(x, y)
            for critic in args.critics:
                if critic == "sinkhorn":
                    value, seconds = sinkhorn(x, y)
                    lipschitz = float("nan")
                elif critic == "probe":  # fitted on half of each sample, read on the other half
                    reading = held_out_w1(x, y, args.steps, seed)
                    value, seconds, lipschitz = reading["value"], reading["seconds"], reading["lipschitz"]
                else:
                    fit = fit_critic(x, y, critic, args.steps, seed, (f"model.width={WIDTH}", f"model.depth={args.depth}"))
                    value, seconds, lipschitz = fit.estimate, fit.seconds, fit.lipschitz
                row = rows.setdefault((pair, critic), {"pair": pair, "critic": critic, "closed_form": closed,
                                                       "exact": [], "ratio": [], "lipschitz": [], "bound": [],
                                                       "seconds": []})
                row["exact"].append(exact)
                row["ratio"].append(value / exact)
                row["lipschitz"].append(lipschitz)
                row["bound"].append(value / lipschitz / exact if lipschitz == lipschitz and lipschitz > 0 else float("nan"))
                row["seconds"].append(seconds)
                print(f"  seed {seed} {pair:<34} {critic:<12} ratio {value / exact:.3f}  L_emp {lipschitz:.3f}  "
                      f"{seconds:.1f} s", file=sys.stderr, flush=True)
    return list(rows.values())


def med(values: list[float]) -> str:
    values = [v for v in values if v == v]
    return f"{statistics.median(values):.3f}" if values else "-"


def spread(values: list[float]) -> str:
    values = [v for v in values if v == v]
    return f"{min(values):.3f}-{max(values):.3f}" if values else "-"


def table(rows: list[dict]) -> str:
    lines = ["| pair | exact W1 (closed form) | critic | estimate / exact (median, range) | estimate / closed form "
             "| L_emp | lower bound / exact | fit s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        exact = f"{statistics.median(r['exact']):.3f}" + (f" ({r['closed_form']})" if r["closed_form"] else "")
        closed = "-"
        if r["closed_form"]:
            closed = med([ratio * e / r["closed_form"] for ratio, e in zip(r["ratio"], r["exact"])])
        lines.append(f"| {r['pair']} | {exact} | {r['critic']} | {med(r['ratio'])} ({spread(r['ratio'])}) | {closed} | "
                     f"{med(r['lipschitz'])} | {med(r['bound'])} | {statistics.median(r['seconds']):.1f} |")
    return "\n".join(lines)


def training_runs() -> list[dict]:
    """w1/critic_ratio over training runs on gaussians8 (the real CLI, default schedule)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cli = str(Path(sys.executable).with_name("wgan-cli"))
    runs = {"orthonormal, generator held (lr_g 1e-8)": ["critic=orthonormal", "optim.lr_g=1e-8"],
            "sn_ttur, generator held (lr_g 1e-8)": ["critic=sn_ttur", "optim.lr_g=1e-8"],
            "orthonormal, normal run": ["critic=orthonormal"],
            "sn_ttur (the default demo)": ["critic=sn_ttur"]}
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in runs.items():
            run_dir = Path(tmp) / str(len(out))
            start = time.perf_counter()
            subprocess.run([cli, "train", *overrides, f"hydra.run.dir={run_dir}"], check=True, capture_output=True)
            seconds = time.perf_counter() - start
            acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
            acc.Reload()
            tags = acc.Tags()["scalars"]
            ratio = [(e.step, e.value) for e in acc.Scalars("w1/critic_ratio")] if "w1/critic_ratio" in tags else []
            exact, floor = (acc.Scalars(t)[-1].value for t in ("w1/exact", "w1/noise_floor"))
            out.append({"run": name, "ratios": ratio, "final_exact": exact, "final_floor": floor, "seconds": seconds})
            print(f"  {name}: ratios {[round(v, 3) for _, v in ratio]}, final exact {exact:.4f} "
                  f"(floor {floor:.4f}), {seconds:.0f} s", file=sys.stderr, flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000, help="points per side (default 1000)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=1000, help="critic updates per fit (default 1000)")
    p.add_argument("--critics", default=",".join(CRITICS))
    p.add_argument("--depth", type=int, default=3, help="hidden layers of the MLP critic (default 3)")
    p.add_argument("--pairs", default="", help="only the pairs whose name holds one of these words (comma-separated)")
    p.add_argument("--training", action="store_true", help="also the gaussians8 training runs")
    p.add_argument("--json", type=Path, help="write every measurement here")
    args = p.parse_args()
    args.critics = args.critics.split(",")
    args.pairs = [w for w in args.pairs.split(",") if w]
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch "
          f"{torch.__version__}, {time.strftime('%Y-%m-%d')}; n {args.n}, seeds {args.seeds}, steps {args.steps}, depth {args.depth}")
    rows = calibrate(args)
    print(table(rows))
    result = {"rows": rows}
    if args.training:
        result["training"] = training_runs()
        for r in result["training"]:
            values = [v for _, v in r["ratios"]]
            print(f"- {r['run']}: w1/critic_ratio at the evaluations with exact >= 3x floor: "
                  f"{', '.join(f'{v:.2f}' for v in values) or 'none'}; final exact {r['final_exact']:.4f} "
                  f"(floor {r['final_floor']:.4f}); {r['seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
