"""``wgan-cli report SWEEP_DIR``: which combination won, by how much, how noisy.

Reads each job of a multirun dir (``wgan_cli.sweep_results``: its ``summary.json`` and, through
TensorBoard's ``EventAccumulator``, its event files), groups the jobs by the overrides that vary
across the sweep (seeds pooled), and prints one row per combination: the varied keys, runs, failed runs,
the final metric's mean and standard deviation (ddof 1) over seeds, the means of precision,
recall, density and coverage where the runs logged them, and, where the runs have a
quality bar (``summary.json``'s ``time_to_quality``), how many met it and how fast. Writes a PNG with one
curve per combination (mean, band = min..max over seeds) against generator steps and against
wall-clock time.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from wgan_cli.commands import run_command
from wgan_cli.errors import UserError
from wgan_cli.paths import check_new, check_not_input, check_writable, written_atomically
from wgan_cli.sweep_results import collect, label


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wgan-cli report", description="Compare the runs of a sweep: a table and a PNG of curves.",
        epilog="example: wgan-cli report outputs/multirun/2026-11-22/10-00-00 --format markdown",
    )
    p.add_argument("sweep", metavar="SWEEP_DIR")
    p.add_argument("--metric", default="w1/exact", help="the TensorBoard tag to compare (default w1/exact; e.g. fid/fid10k_train)")
    p.add_argument("--format", default="markdown", choices=["markdown", "csv", "json"])
    p.add_argument("--out", default=None, help="the PNG to write (default SWEEP_DIR/report.png, replaced on each "
                                               "report); an existing --out file is kept unless --force")
    p.add_argument("--force", action="store_true", help="replace an existing --out file (written atomically)")
    p.add_argument("--wide", action="store_true",
                   help="the markdown table with every column (csv and json always hold every column)")
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    if args.out is not None and not args.out.strip():
        p.error("--out '': give a file name")
    return args


def winner_line(result: dict[str, Any]) -> str | None:
    """The winner, named only where the gap to the next group exceeds the seeds' spread, and then
    qualified where no group reached the quality bar."""
    w = result["winner"]
    if w is None:
        return None
    compared = (f"{w['group']} {w['value']:.4g} vs {w['next']} {w['next_value']:.4g} ({result['metric']}, "
                f"{'higher' if w['higher_is_better'] else 'lower'} is better): gap {w['gap']:.3g}")
    if w["clear"] is None:
        return f"no winner named: {compared}, one run per group: no seeds' spread to compare it with"
    if not w["clear"]:
        return f"no winner named: {compared}, within the seeds' spread ({w['spread']:.3g}): not a clear winner"
    qualifier = " (among runs that all missed the quality bar)" if result.get("bar_missed") else ""
    return f"winner{qualifier}: {compared}, larger than the seeds' spread ({w['spread']:.3g})"


def bar_line(result: dict[str, Any]) -> str | None:
    """Said plainly where the runs have a quality bar and no group reached it."""
    if not result.get("bar_missed"):
        return None
    return (f"no group reached the quality bar ({result['quality_bar']}): every run is still far from the data, "
            "so the ranking compares unfinished runs; train longer before choosing")


def compact(result: dict[str, Any]) -> list[dict[str, str]]:
    """The default table: a column per question a comparison asks (which group, how many seeds, the
    metric's final mean +- sd, its noise floor, the best over evaluations, the quality bar, whether
    the critic tracks quality); ``--wide``, csv and json hold every column."""
    metric, varied = result["metric"], result["varied"]
    number = lambda v: "" if v is None else f"{v:.4g}"  # noqa: E731
    rows = []
    for r in result["rows"]:
        runs = str(r["runs"]) + "".join(f" ({r[k]} {k})" for k in ("failed", "killed") if r.get(k))
        mean, sd = r[f"{metric} mean"], r[f"{metric} std"]
        row = {"rank": "" if r["rank"] is None else str(r["rank"]), "group": label(r, varied), "runs": runs,
               metric: number(mean) + (f" ± {sd:.2g}" if sd is not None else "")}
        if "w1/noise_floor mean" in r:
            row["floor"] = number(r["w1/noise_floor mean"])
        row["best"] = number(r.get(f"{metric} best mean"))
        if "reached bar" in r:
            row["reached bar"] = r["reached bar"]
            row["steps to bar"] = number(r["steps to bar"])
        spearman = [k for k in r if k.startswith("critic~") and k.endswith(" spearman mean")]
        if spearman:
            row[spearman[0].replace(" spearman mean", "")] = number(r[spearman[0]])
        rows.append(row)
    return rows


def table(result: dict[str, Any], fmt: str, wide: bool = False) -> str:
    rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in result["rows"]]
    if fmt == "markdown" and not wide:
        rows = compact(result)
    if fmt == "json":
        return json.dumps({"metric": result["metric"], "varied": result["varied"], "rows": rows,
                           "winner": result["winner"],
                           "also_differ": result["also_differ"], "jobs": result["jobs"],
                           "expected_jobs": result["expected_jobs"], "other_jobs": result["other_jobs"],
                           "warnings": result["warnings"],
                           "quality_bar": result["quality_bar"], "bar_missed": result["bar_missed"]}, indent=2)
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


def plot(result: dict[str, Any], path: Path, kind: str = "png") -> None:
    import matplotlib  # lazy: keeps matplotlib out of start-up

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: keeps matplotlib out of start-up

    with warnings.catch_warnings():  # override values in scripts the font lacks: boxes, not 60 warnings
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from")
        _plot(plt, result, path, kind)


def _plot(plt, result: dict[str, Any], path: Path, kind: str) -> None:  # noqa: ANN001 - matplotlib.pyplot
    fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    for row in result["rows"]:
        curves = [j["curve"] for j in row["_members"] if j["curve"]]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        steps = np.array([p[0] for p in curves[0][:n]])
        values = np.array([[p[2] for p in c[:n]] for c in curves])
        seconds = np.array([[p[1] - c[0][1] for p in c[:n]] for c in curves]).mean(0)
        name = label(row, result["varied"]) + f" ({len(curves)} run{'s' * (len(curves) > 1)})"
        for ax, x in ((by_step, steps), (by_time, seconds)):
            line, = ax.plot(x, values.mean(0), label=name)
            ax.fill_between(x, values.min(0), values.max(0), color=line.get_color(), alpha=0.2)
    floors = [r["w1/noise_floor mean"] for r in result["rows"] if r.get("w1/noise_floor mean") is not None]
    if floors:  # the level sampling alone reaches: below it, exact W1 tells runs apart no more
        for ax in (by_step, by_time):
            ax.axhline(float(np.mean(floors)), color="gray", linestyle="--", label="noise floor (mean)")
    by_step.set_xlabel("generator step")
    by_time.set_xlabel("wall-clock seconds since the first point")
    for ax in (by_step, by_time):
        ax.set_ylabel(result["metric"])
        ax.grid(alpha=0.3)
    by_step.legend(fontsize=8)
    fig.suptitle(f"{result['metric']}: mean over seeds, band = min..max")
    fig.tight_layout()
    fig.savefig(path, dpi=100, format=kind)
    plt.close(fig)


def picture_formats() -> dict[str, str]:
    """The file types the PNG's writer (matplotlib) saves: suffix -> description."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # lazy: keeps matplotlib out of start-up

    return FigureCanvasAgg.get_supported_filetypes()


def check_picture(out: Path) -> str:
    """The format ``--out`` names by its suffix, or one line before any work."""
    formats = picture_formats()
    kind = out.suffix.lower().lstrip(".")
    if kind not in formats:
        raise UserError(f"--out {out}: write a picture: a file name ending in "
                        f"{', '.join('.' + k for k in sorted(formats))}")
    return kind


def show(args: argparse.Namespace) -> None:
    sweep = Path(args.sweep).expanduser()
    out = Path(args.out).expanduser() if args.out else sweep / "report.png"
    kind = check_picture(out)
    if args.out:
        check_writable(out, "--out")
        check_new(out, "--out", args.force)
    result = collect(sweep, args.metric)
    check_not_input(out, "--out", (p for p in sweep.rglob("*") if p.suffix.lower().lstrip(".") != kind))
    if all(r[f"{args.metric} mean"] is None for r in result["rows"]):
        raise UserError(f"{sweep}: no finished run logged {args.metric}")
    with written_atomically(out) as tmp:  # the picture first: a reader that stops early (| head) still gets it
        plot(result, tmp, kind)
    print(table(result, args.format, args.wide))
    if result["quality_bar"] and args.format != "json":
        print(f"quality bar: {result['quality_bar']} (reached bar: runs that met it; steps and seconds to "
              "bar: the mean over those, seconds of training)", file=sys.stderr)
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    for line in (bar_line(result), winner_line(result)):
        if line and args.format != "json":
            print(line, file=sys.stderr)
    if result["also_differ"] and args.format != "json":
        print("the compared groups also differ in: " + "; ".join(
            f"{k} ({' | '.join(v)})" for k, v in result["also_differ"].items()), file=sys.stderr)
    print(f"wrote {out}", file=sys.stderr)


def main() -> None:
    args = parse_args(sys.argv[1:])
    run_command(lambda: show(args))
