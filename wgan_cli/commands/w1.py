"""``wgan-cli w1 A B``: the Wasserstein-1 distance between two sample files, several ways.

A and B are ``.npy`` or ``.csv`` arrays [N, d] (a CSV header line is skipped) or image folders
(flattened, scaled to [0, 1]); equal weights. Methods (``--method exact,lp,...`` or ``all``):
``exact`` (``ot.emd2``), ``lp`` (primal and dual linear programs, strong duality and the KR
potential), ``sinkhorn`` (entropic, ``--reg``), ``sliced`` (POT), ``critic`` (a neural critic
trained with a Lipschitz strategy of ``wgan-cli train``: the KR estimate), ``probe`` (cross-fitted
1-Lipschitz witnesses, each read on points it was not fitted on: not biased up by sampling, unlike
``exact`` above a few dimensions).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from wgan_cli import threads
from wgan_cli.commands import run_command, seed
from wgan_cli.errors import UserError
from wgan_cli.threads import add_option as add_threads_option

METHODS = ("exact", "lp", "sinkhorn", "sliced", "critic", "probe")
EXACT_LIMIT = 20_000  # points per side up to which exact W1 is computed as a reference


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wgan-cli w1", description="Wasserstein-1 between two sample sets (.npy, .csv or image folders).",
        epilog="example: wgan-cli w1 real.npy fake.npy --method exact,sliced,critic",
    )
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("--method", default="exact", help=f"comma-separated: {', '.join(METHODS)}, or all (default exact)")
    p.add_argument("--metric", default="euclidean", choices=["euclidean", "sqeuclidean"],
                   help="ground cost (sqeuclidean gives W2^2 for exact/lp/sinkhorn)")
    p.add_argument("--reg", type=float, default=0.01, help="sinkhorn: entropic regularization, relative to the largest cost")
    p.add_argument("--projections", type=int, default=200, help="sliced: random directions (default 200)")
    p.add_argument("--critic", default="gp", help="critic: the Lipschitz strategy of wgan-cli train, trained with its recipe (default gp)")
    p.add_argument("--steps", type=int, default=1000, help="critic: training steps; probe: at most this many a fold, stopped early (default 1000)")
    p.add_argument("--seed", type=seed, default=0)
    add_threads_option(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    methods = METHODS if args.method == "all" else tuple(m.strip() for m in args.method.split(","))
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        p.error(f"--method {','.join(unknown)}: choose from {', '.join(METHODS)} or all")
    if args.metric != "euclidean" and {"sliced", "critic", "probe"} & set(methods):
        p.error("--metric sqeuclidean: sliced, critic and probe estimate W1 with the Euclidean cost only")
    if args.reg <= 0 or args.projections < 1 or args.steps < 1:
        p.error("--reg must be > 0, --projections and --steps >= 1")
    args.methods = methods
    return args


def load_samples(spec: str) -> np.ndarray:
    """[N, d] float64 from a .npy, a .csv or an image folder; one-line errors for bad input."""
    path = Path(spec).expanduser()
    if not path.exists():
        raise UserError(f"{spec}: no such file or folder")
    try:
        if path.is_dir():
            x = _folder(path)
        elif path.suffix == ".npy":
            x = np.load(path, allow_pickle=False)
        elif path.suffix == ".csv":
            try:
                x = np.loadtxt(path, delimiter=",", ndmin=2)
            except ValueError:
                x = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)  # a header line
        else:
            raise UserError(f"{spec}: expected a .npy or .csv file, or an image folder")
    except UserError:
        raise
    except Exception as ex:  # noqa: BLE001 - unreadable content of any kind
        raise UserError(f"{spec}: cannot read samples ({type(ex).__name__}: {str(ex).splitlines()[0][:100]})") from ex
    x = np.asarray(x)
    if np.iscomplexobj(x):
        raise UserError(f"{spec}: complex values; W1 is computed between real vectors")
    if x.ndim > 2:
        raise UserError(f"{spec}: an array of shape {x.shape}; expected [N, d] (flatten each sample first, "
                        "or give an image folder)")
    try:
        x = x.astype(np.float64)
    except (TypeError, ValueError) as ex:
        raise UserError(f"{spec}: not numeric ({x.dtype})") from ex
    if x.ndim == 0:
        raise UserError(f"{spec}: a single number (a 0-d array); expected samples, an array [N, d]")
    if x.size == 0 or len(x) == 0:
        raise UserError(f"{spec}: no samples")
    x = x.reshape(len(x), -1)
    if not np.isfinite(x).all():
        raise UserError(f"{spec}: contains NaN or Inf values (row {int(np.argwhere(~np.isfinite(x))[0, 0])})")
    largest, limit = float(np.abs(x).max()), largest_value(x.shape[1])
    if largest > limit:
        raise UserError(f"{spec}: values up to {largest:.3g}, above {limit:.3g}, where squared distances overflow "
                        f"float64; rescale both samples (W1(c x, c y) = c W1(x, y))")
    return x


def largest_value(dim: int) -> float:
    """The largest |value| whose squared distances, summed over ``dim`` coordinates, stay finite."""
    return float(np.sqrt(np.finfo(np.float64).max / (4 * dim)) / 10)


def _folder(path: Path) -> np.ndarray:
    from wgan_cli.imageio import decode_rgb, list_images  # lazy: keeps torch out of start-up

    files = list_images(path)
    if not files:
        raise UserError(f"{path}: no image files")
    arrays = [decode_rgb(f).astype(np.float64).ravel() / 255 for f in files]
    if len({a.shape for a in arrays}) > 1:
        raise UserError(f"{path}: images of different sizes; resize them to one size first")
    return np.stack(arrays)


def check_memory(methods: tuple[str, ...], n: int, m: int, dim: int = 2) -> None:
    """Refuse, before solving, a method whose n x m problem cannot fit in memory (exact W1 on the
    line sorts instead: no n x m problem)."""
    from wgan_cli.memory import (  # lazy: keeps torch out of start-up
        EXACT_BYTES_PER_PAIR, LP_BYTES_PER_PAIR, SINKHORN_BYTES_PER_PAIR, TooLarge, host_available, largest_square,
        size)

    available = host_available()
    for method, per_pair in (("exact", EXACT_BYTES_PER_PAIR), ("lp", LP_BYTES_PER_PAIR), ("sinkhorn", SINKHORN_BYTES_PER_PAIR)):
        if method in methods and not (method == "exact" and dim == 1):
            need = per_pair * n * m
            if need > available:
                raise TooLarge(
                    f"--method {method}: {n} x {m} points need about {size(need)}, {size(available)} available; "
                    f"up to about {largest_square(per_pair, available)} points per side fit; --method sliced "
                    "(or critic) scales to far more"
                )


def run(args: argparse.Namespace) -> dict:
    from wgan_cli.metrics import w1  # lazy: keeps torch out of start-up

    threads.apply(args.threads, threads.SMALL, key="--threads")  # POT's solvers, a small MLP critic

    x, y = load_samples(args.a), load_samples(args.b)
    if x.shape[1] != y.shape[1]:
        raise UserError(f"A has dimension {x.shape[1]}, B has {y.shape[1]}: the samples must live in one space")
    check_memory(args.methods, len(x), len(y), x.shape[1])
    from wgan_cli.memory import exact_w1_bytes, host_available  # lazy: keeps torch out of start-up

    # the exact value as a reference for the other methods, where it is cheap
    small = x.shape[1] == 1 or (max(len(x), len(y)) <= EXACT_LIMIT
                                and exact_w1_bytes(len(x), len(y)) <= host_available() / 2)
    result: dict = {"a": args.a, "b": args.b, "n_a": len(x), "n_b": len(y), "dim": x.shape[1],
                    "metric": args.metric, "methods": {}}
    exact = w1.exact_w1(x, y, metric=args.metric) if small else None
    for method in args.methods:
        if method == "exact":
            if exact is None:
                exact = w1.exact_w1(x, y, metric=args.metric)
            entry = {"value": exact, "how": "sorted quantiles (ot.wasserstein_1d)" if x.shape[1] == 1
                     else "network simplex (ot.emd2)"}
        elif method == "lp":
            s = w1.lp_w1(x, y, metric=args.metric)
            entry = {"value": s.primal, "primal": s.primal, "dual": s.dual, "duality_gap": s.primal - s.dual,
                     "how": "linear programs (scipy HiGHS)"}
            if args.metric == "euclidean":
                _, ratio = w1.kr_potential(x, y, s.f, s.g)
                entry["kr_potential_lipschitz"] = ratio
        elif method == "sinkhorn":
            entry = {"value": w1.sinkhorn_w1(x, y, args.reg, metric=args.metric),
                     "how": f"entropic, reg {args.reg} x max cost (ot.sinkhorn2)"}
        elif method == "sliced":
            entry = {"value": w1.sliced_w1(x, y, args.projections, args.seed),
                     "how": f"{args.projections} projections (ot.sliced_wasserstein_distance), a lower bound"}
        elif method == "probe":
            from wgan_cli.training.probe import held_out_w1  # lazy: keeps torch out of start-up

            if min(len(x), len(y)) < 4:
                raise UserError("--method probe: needs at least 4 points per side (two folds of two: one to fit, one to read)")
            r = held_out_w1(x, y, args.steps, args.seed)
            kept = ", ".join(f"{kind} {r['witnesses'].count(kind)}" for kind in ("linear", "spread", "network"))
            entry = {"value": r["value"], "standard_error": r["se"], "empirical_lipschitz": r["lipschitz"],
                     "seconds": r["seconds"], "folds": r["folds"], "witnesses": r["witnesses"],
                     "updates": r["updates"], "stopped_at": r["ran"],
                     "how": f"cross-fitted over {r['folds']} folds: each fold read by a 1-Lipschitz witness fitted on the "
                     f"others: the linear one along their means' difference, the spread one (+-the distance to their mean) "
                     f"or an orthonormal MLP (at most {args.steps} steps, early-stopped), whichever read most on a "
                     f"held-back fifth "
                     f"(folds kept: {kept}): "
                     f"+-{r['se']:.6f} (one standard error), an unbiased estimate of a lower bound on the population W1"}
        else:
            from wgan_cli.training.critic_fit import fit_critic  # lazy: keeps torch out of start-up

            fit = fit_critic(x, y, args.critic, args.steps, args.seed)
            entry = {"value": fit.lower_bound, "kr_estimate": fit.estimate, "empirical_lipschitz": fit.lipschitz,
                     "seconds": fit.seconds,
                     "how": f"MLP critic, critic={args.critic} with its recipe, {args.steps} steps: KR estimate "
                     f"{fit.estimate:.6f} / empirical Lipschitz constant {fit.lipschitz:.4f}, a lower bound"}
        if exact is not None and method != "exact":
            entry["minus_exact"] = entry["value"] - exact
        result["methods"][method] = entry
    return result


def format_lines(result: dict) -> str:
    lines = [f"{result['n_a']} vs {result['n_b']} points in {result['dim']} dimensions, {result['metric']} cost"]
    for method, e in result["methods"].items():
        line = f"{method:<9} {e['value']:.6f}"
        if method == "lp":
            line += f"  (primal {e['primal']:.9f}, dual {e['dual']:.9f}, gap {e['duality_gap']:.1e}"
            if "kr_potential_lipschitz" in e:
                line += f"; the c-transformed dual is one potential f = -g, Lipschitz {e['kr_potential_lipschitz']:.6f}"
            line += ")"
        else:
            line += f"  ({e['how']})"
        if "minus_exact" in e:
            line += f"  {e['minus_exact']:+.6f} vs exact"
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    args = parse_args(sys.argv[1:])
    run_command(lambda: show(args))


def show(args: argparse.Namespace) -> None:
    result = run(args)
    print(json.dumps(result, indent=2) if args.json else format_lines(result))
