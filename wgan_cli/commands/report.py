"""``wgan-cli report SWEEP_DIR``: which combination won, by how much, how noisy.

Reads each job of a multirun dir (its ``summary.json`` and, through TensorBoard's
``EventAccumulator``, its event files), groups the jobs by the overrides that vary across the
sweep (seeds pooled), and prints one row per combination: the varied keys, runs, failed runs,
and the final metric's mean and standard deviation (ddof 1) over seeds. Writes a PNG with one
curve per combination (mean, band = min..max over seeds) against generator steps and against
wall-clock time.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from wgan_cli.commands import run_command
from wgan_cli.errors import UserError
from wgan_cli.rundir import RunDir

POOLED = ("seed",)  # overrides averaged over rather than grouped by


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wgan-cli report", description="Compare the runs of a sweep: a table and a PNG of curves.",
        epilog="example: wgan-cli report outputs/multirun/2026-11-22/10-00-00 --format markdown",
    )
    p.add_argument("sweep", metavar="SWEEP_DIR")
    p.add_argument("--metric", default="w1/exact", help="the TensorBoard tag to compare (default w1/exact; e.g. fid/fid10k_train)")
    p.add_argument("--format", default="markdown", choices=["markdown", "csv", "json"])
    p.add_argument("--out", default=None, help="the PNG to write (default SWEEP_DIR/report.png)")
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    return parser().parse_args(argv)


def job_dirs(sweep: Path) -> list[Path]:
    if not sweep.is_dir():
        raise UserError(f"{sweep}: no such folder")
    jobs = sorted((p for p in sweep.iterdir() if (RunDir(p).hydra / "overrides.yaml").is_file()),
                  key=lambda p: (len(p.name), p.name))
    if not jobs:
        raise UserError(f"{sweep}: not a sweep dir (no job folders holding .hydra/overrides.yaml); "
                        "give the folder a multirun wrote, outputs/multirun/<date>/<time>")
    return jobs


def overrides_of(job: Path) -> dict[str, str]:
    from omegaconf import OmegaConf

    items = OmegaConf.to_container(OmegaConf.load(RunDir(job).hydra / "overrides.yaml"))
    return dict(item.split("=", 1) for item in items if "=" in item and not item.startswith("hydra."))


def curve(job: Path, tag: str) -> list[tuple[int, float, float]]:
    """(step, wall_time, value) of ``tag`` in the job's event files (empty when absent)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(RunDir(job).events), size_guidance={"scalars": 0})
    acc.Reload()
    if tag not in acc.Tags().get("scalars", []):
        return []
    return [(e.step, e.wall_time, e.value) for e in acc.Scalars(tag)]


def collect(sweep: Path, metric: str) -> dict[str, Any]:
    from wgan_cli.sweep import read_summary

    jobs = []
    for job in job_dirs(sweep):
        summary = read_summary(job) or {}
        status = summary.get("status", "unfinished")
        points = curve(job, metric) if status == "completed" else []
        jobs.append({"dir": job, "overrides": overrides_of(job), "status": status,
                     "reason": summary.get("reason", ""), "curve": points,
                     "final": points[-1][2] if points else None})
    if not any(j["status"] == "completed" for j in jobs):
        raise UserError(f"{sweep}: no finished runs yet ({len(jobs)} job folders, none with status completed)")
    keys = sorted({k for j in jobs for k in j["overrides"]})
    varied = [k for k in keys if k not in POOLED and len({j["overrides"].get(k) for j in jobs}) > 1]
    groups: dict[tuple, list[dict]] = {}
    for j in jobs:
        groups.setdefault(tuple(j["overrides"].get(k, "") for k in varied), []).append(j)
    rows = []
    for combo, members in groups.items():
        finals = [j["final"] for j in members if j["final"] is not None]
        rows.append({
            **dict(zip(varied, combo)),
            "runs": len(members),
            "failed": sum(j["status"] == "failed" for j in members),
            f"{metric} mean": float(np.mean(finals)) if finals else None,
            f"{metric} std": float(np.std(finals, ddof=1)) if len(finals) > 1 else None,
            "_members": members,
        })
    return {"metric": metric, "varied": varied, "rows": rows, "also_differ": also_differ(groups, varied)}


def flat_config(job: Path) -> dict[str, str]:
    """The job's composed config (``.hydra/config.yaml``) as dotted key -> value text."""
    from omegaconf import OmegaConf

    path = RunDir(job).hydra / "config.yaml"
    if not path.is_file():
        return {}
    flat: dict[str, str] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            flat[prefix[:-1]] = str(node)

    walk(OmegaConf.to_container(OmegaConf.load(path)), "")
    return flat


def also_differ(groups: dict[tuple, list[dict]], varied: list[str]) -> dict[str, list[str]]:
    """Config keys, other than the varied overrides themselves, whose values differ between the
    compared groups: ``critic=clip,gp`` also changes ``optim.*`` and ``n_critic`` through each
    critic's recipe. Key -> one value per group, in row order."""
    def own(key: str) -> bool:
        return any(key == v or key.startswith(v + ".") for v in (*varied, *POOLED))

    configs = [flat_config(members[0]["dir"]) for members in groups.values()]
    keys = sorted({k for c in configs for k in c if not own(k)})
    return {k: [c.get(k, "-") for c in configs] for k in keys if len({c.get(k, "-") for c in configs}) > 1}


def table(result: dict[str, Any], fmt: str) -> str:
    rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in result["rows"]]
    if fmt == "json":
        return json.dumps({"metric": result["metric"], "varied": result["varied"], "rows": rows,
                           "also_differ": result["also_differ"]}, indent=2)
    columns = list(rows[0])
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue().rstrip("\n")
    cell = lambda v: "" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    for row in result["rows"]:
        curves = [j["curve"] for j in row["_members"] if j["curve"]]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        steps = np.array([p[0] for p in curves[0][:n]])
        values = np.array([[p[2] for p in c[:n]] for c in curves])
        seconds = np.array([[p[1] - c[0][1] for p in c[:n]] for c in curves]).mean(0)
        label = ", ".join(f"{k}={row[k]}" for k in result["varied"]) or "all runs"
        label += f" ({len(curves)} run{'s' * (len(curves) > 1)})"
        for ax, x in ((by_step, steps), (by_time, seconds)):
            line, = ax.plot(x, values.mean(0), label=label)
            ax.fill_between(x, values.min(0), values.max(0), color=line.get_color(), alpha=0.2)
    by_step.set_xlabel("generator step")
    by_time.set_xlabel("wall-clock seconds since the first point")
    for ax in (by_step, by_time):
        ax.set_ylabel(result["metric"])
        ax.grid(alpha=0.3)
    by_step.legend(fontsize=8)
    fig.suptitle(f"{result['metric']}: mean over seeds, band = min..max")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def show(args: argparse.Namespace) -> None:
    from wgan_cli.paths import check_writable

    sweep = Path(args.sweep).expanduser()
    if args.out:
        check_writable(Path(args.out), "--out")
    result = collect(sweep, args.metric)
    if all(r[f"{args.metric} mean"] is None for r in result["rows"]):
        raise UserError(f"{sweep}: no finished run logged {args.metric}")
    print(table(result, args.format))
    if result["also_differ"] and args.format != "json":
        print("the compared groups also differ in: " + "; ".join(
            f"{k} ({' | '.join(v)})" for k, v in result["also_differ"].items()), file=sys.stderr)
    out = Path(args.out) if args.out else sweep / "report.png"
    plot(result, out)
    print(f"wrote {out}", file=sys.stderr)


def main() -> None:
    args = parse_args(sys.argv[1:])
    run_command(lambda: show(args))
