"""A sweep's results, read back: its jobs (``summary.json`` and, through TensorBoard's
``EventAccumulator``, their event files), grouped by the overrides that vary (seeds pooled), with
each group's mean and spread, the winner and the keys the groups also differ in. Torch-free;
``wgan-cli report`` prints and draws them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from wgan_cli.errors import UserError
from wgan_cli.progress import Progress
from wgan_cli.rundir import RunDir, RunDirLock

POOLED = ("seed",)  # overrides averaged over rather than grouped by


def job_dirs(sweep: Path) -> list[Path]:
    from wgan_cli.sweep import job_number  # lazy: keeps torch out of start-up

    if not sweep.is_dir():
        raise UserError(f"{sweep}: no such folder")
    jobs = sorted((p for p in sweep.iterdir() if (RunDir(p).hydra / "overrides.yaml").is_file()), key=job_number)
    if not jobs:
        raise UserError(f"{sweep}: not a sweep dir (no job folders holding .hydra/overrides.yaml); "
                        "give the folder a multirun wrote, outputs/multirun/<date>/<time>")
    return jobs


def distinct_jobs(sweep: Path, warnings: list[str]) -> tuple[list[Path], list[Path]]:
    """The job dirs to compare, each set of overrides once (the first by number), and apart those
    that the sweep's ``multirun.yaml`` does not ask for (left by an earlier sweep over the same dir)."""
    from wgan_cli.sweep import job_key, swept_jobs  # lazy: keeps torch out of start-up

    wanted, swept = swept_jobs(sweep)
    seen: dict[tuple[str, ...], Path] = {}
    compared, apart = [], []
    for job in job_dirs(sweep):
        key = job_key(override_list(job), swept)
        if key in seen:
            warnings.append(f"job {job.name} repeats the overrides of {seen[key].name}: read once, as {seen[key].name}")
        elif wanted is not None and key not in wanted:
            seen[key] = job
            apart.append(job)
        else:
            seen[key] = job
            compared.append(job)
    if apart:
        warnings.append(f"{len(apart)} job dir(s) that multirun.yaml does not ask for (an earlier sweep over this dir), "
                        f"left out of the comparison: {', '.join(p.name for p in apart)}")
    if not compared:
        raise UserError(f"{sweep}: none of its job folders is one its multirun.yaml asks for")
    return compared, apart


def override_list(job: Path) -> list[str]:
    from omegaconf import OmegaConf  # lazy: keeps omegaconf out of start-up

    return [str(o) for o in OmegaConf.to_container(OmegaConf.load(RunDir(job).hydra / "overrides.yaml"))]


def overrides_of(job: Path) -> dict[str, str]:
    items = override_list(job)
    return dict(item.split("=", 1) for item in items if "=" in item and not item.startswith("hydra."))


def curve(job: Path, tag: str) -> list[tuple[int, float, float]]:
    """(step, wall_time, value) of ``tag`` in the job's event files (empty when absent)."""
    from tensorboard.backend.event_processing.event_accumulator import (  # lazy: keeps tensorboard out of start-up
        EventAccumulator)

    if not RunDir(job).events.is_dir():
        return []
    acc = EventAccumulator(str(RunDir(job).events), size_guidance={"scalars": 0})
    acc.Reload()
    if tag not in acc.Tags().get("scalars", []):
        return []
    return [(e.step, e.wall_time, e.value) for e in acc.Scalars(tag)]

FAILED = ("failed", "diverged")

STOPPED = ("killed", "interrupted", "running")  # no final value: killed before summary.json, or still training


def job_status(job: Path, summary: dict | None) -> str:
    """summary.json's status; without one, ``running`` while a process holds the run dir's lock,
    else ``killed`` (the job died before it could write one)."""
    if summary is not None:
        return summary.get("status", "killed")
    return "running" if RunDirLock.held(job) else "killed"


def read_job(job: Path, metric: str, warnings: list[str]) -> dict[str, Any]:
    """One job: its overrides, status, ``metric`` curve and final value (summary.json's, which the
    events must agree with), the other finals, time to quality and rank correlations; what a
    reader of the table must know goes into ``warnings``."""
    from wgan_cli.sweep import read_summary  # lazy: keeps torch out of start-up

    raw = read_summary(job)
    summary, status = raw or {}, job_status(job, raw)
    completed = status == "completed"
    points = curve(job, metric) if completed else []
    final = (summary.get("final") or {}).get(metric)
    if final is not None and points and not np.isclose(points[-1][2], final, rtol=1e-5, atol=1e-9):
        warnings.append(f"job {job.name}: its events end at step {points[-1][0]} with {metric} {points[-1][2]:.6g}, "
                        f"summary.json says {final:.6g} (a truncated events file?); the table uses summary.json")
    if completed and not RunDir(job).events.is_dir():
        warnings.append(f"job {job.name}: its tb/ folder is missing; the table uses summary.json, the PNG has no curve")
    if final is None and points:
        final = points[-1][2]
    return {"dir": job, "overrides": overrides_of(job), "status": status, "reason": summary.get("reason", ""),
            "curve": points, "final": final, "quality": summary.get("time_to_quality") or {},
            "finals": (summary.get("final") or {}) if completed else {},
            "bests": (summary.get("best") or {}) if completed else {},
            "spearman": ((summary.get("critic_tracks_quality") or {}).get("spearman") or {}) if completed else {}}


def collect(sweep: Path, metric: str) -> dict[str, Any]:
    """Every job (``read_job``) grouped by the overrides that vary, seeds pooled: a row per group
    with the mean and spread of ``metric``, ranked, the winner named."""
    warnings: list[str] = []
    dirs, apart = distinct_jobs(sweep, warnings)
    progress = Progress(f"reading {len(dirs)} jobs", len(dirs), unit="job")
    jobs = []
    for job in dirs:
        jobs.append(read_job(job, metric, warnings))
        progress.advance()
    progress.close()
    stopped = [j["dir"].name for j in jobs if j["status"] in STOPPED]
    if stopped:
        warnings.append(f"{len(stopped)} job(s) without a final result (killed, interrupted or running): {', '.join(stopped)}")
    expected = expected_jobs(sweep)
    if expected is not None and expected > len(jobs):
        warnings.append(f"{expected - len(jobs)} of {expected} jobs never started (multirun.yaml asks for {expected}, "
                        f"{len(jobs)} job folders exist)")
    if not any(j["status"] == "completed" for j in jobs):
        raise UserError(f"{sweep}: no finished runs yet ({len(jobs)} job folders, none with status completed)")
    keys = sorted({k for j in jobs for k in j["overrides"]})
    varied = [k for k in keys if k not in POOLED and len({j["overrides"].get(k) for j in jobs}) > 1]
    groups: dict[tuple, list[dict]] = {}
    for j in jobs:
        groups.setdefault(tuple(j["overrides"].get(k, "") for k in varied), []).append(j)
    companions = [key for key in fidelity_keys(jobs) if key != metric]
    refs = references(jobs)
    bars = sorted({j["quality"]["bar"] for j in jobs if j["quality"].get("bar")})
    rows = []
    for combo, members in groups.items():
        finals = [j["final"] for j in members if j["final"] is not None]
        rows.append({
            **dict(zip(varied, combo)),
            "runs": len(members),
            "failed": sum(j["status"] in FAILED for j in members),
            "killed": sum(j["status"] in STOPPED for j in members),
            f"{metric} mean": float(np.mean(finals)) if finals else None,
            f"{metric} std": float(np.std(finals, ddof=1)) if len(finals) > 1 else None,
            f"{metric} best mean": mean_of(members, metric, "bests"),
            **{f"{key} mean": mean_of(members, key) for key in companions},
            **{f"critic~{ref} spearman mean": mean_of(members, ref, "spearman") for ref in refs},
            **(time_to_quality(members) if bars else {}),
            "_members": members,
        })
    floor = metric.startswith("w1/") and any("w1/noise_floor" in j["finals"] for j in jobs)
    if floor:  # beside the metric: the level sampling alone reaches
        rows = [{**{k: v for k, v in r.items() if k not in later}, "w1/noise_floor mean": mean_of(r["_members"], "w1/noise_floor"),
                 **{k: v for k, v in r.items() if k in later}}
                for r in rows for later in [list(r)[list(r).index(f"{metric} std") + 1:]]]
    better = higher_is_better(metric)
    ranked = sorted(rows, key=lambda r: (r[f"{metric} mean"] is None,
                                         -(r[f"{metric} mean"] or 0) if better else (r[f"{metric} mean"] or 0)))
    rows = [{"rank": i + 1 if r[f"{metric} mean"] is not None else None, **r} for i, r in enumerate(ranked)]
    return {"metric": metric, "varied": varied, "rows": rows, "also_differ": also_differ(groups, varied),
            "jobs": len(jobs), "expected_jobs": expected, "warnings": warnings, "quality_bar": " | ".join(bars) or None,
            "other_jobs": [p.name for p in apart],
            "winner": winner(rows, metric, varied, better),
            "bar_missed": bool(bars) and not any(j["quality"].get("step") is not None for j in jobs)}


def higher_is_better(metric: str) -> bool:
    """Distances (W1, FID, KID, the floor) fall as the generator improves; precision, recall,
    density, coverage, modes, the high-quality share and the Inception score rise."""
    return bool(FIDELITY.fullmatch(metric)) or metric.startswith(("fid/is", "w1/critic_ratio"))


def label(row: dict, varied: list[str]) -> str:
    return ", ".join(f"{k}={row[k]}" for k in varied) or "all runs"


def winner(rows: list[dict], metric: str, varied: list[str], better: bool) -> dict | None:
    """The best group by ``metric``'s mean, the gap to the next, and whether the gap exceeds the
    seeds' spread (the larger range, max - min over a group's runs, of the two groups)."""
    scored = [r for r in rows if r[f"{metric} mean"] is not None]
    if len(scored) < 2:
        return None
    first, second = scored[:2]

    def spread(row: dict) -> float | None:
        finals = [j["final"] for j in row["_members"] if j["final"] is not None]
        return float(max(finals) - min(finals)) if len(finals) > 1 else None

    spreads = [s for s in (spread(first), spread(second)) if s is not None]
    gap = abs(first[f"{metric} mean"] - second[f"{metric} mean"])
    return {"group": label(first, varied), "value": first[f"{metric} mean"], "next": label(second, varied),
            "next_value": second[f"{metric} mean"], "gap": gap, "higher_is_better": better,
            "spread": max(spreads) if spreads else None, "clear": gap > max(spreads) if spreads else None}

FIDELITY = re.compile(r"(prdc/|fid/|toy/)(precision|recall|density|coverage|modes|high_quality)\w*")

ORDER = ("precision", "recall", "density", "coverage", "modes", "high_quality")


def fidelity_keys(jobs: list[dict]) -> list[str]:
    """Precision, recall, density and coverage tags the finished jobs logged (toys: prdc/*; images
    with fid.prdc: fid/precision1k_train, ...) and the mixtures' modes captured and high-quality
    share (toy/*), shown beside the chosen metric: fidelity and diversity apart."""
    return sorted({k for j in jobs for k in j["finals"] if FIDELITY.fullmatch(k)},
                  key=lambda k: (ORDER.index(FIDELITY.fullmatch(k)[2]), k))


def references(jobs: list[dict]) -> list[str]:
    """The quality references the runs' critics were ranked against (summary.json's
    ``critic_tracks_quality``): does the critic's estimate fall as quality improves?"""
    return sorted({ref for j in jobs for ref, rho in j["spearman"].items() if rho is not None})


def mean_of(members: list[dict], key: str, field: str = "finals") -> float | None:
    """The mean of ``key`` in each member's ``field`` (final values, or Spearman correlations) where
    the member has it; None where none has."""
    values = [j[field][key] for j in members if j[field].get(key) is not None]
    return float(np.mean(values)) if values else None


def time_to_quality(members: list[dict]) -> dict[str, Any]:
    """How many of a group's runs met their quality bar, and the mean step and training seconds at
    which they did (over those that did)."""
    reached = [j["quality"] for j in members if j["quality"].get("step") is not None]
    return {"reached bar": f"{len(reached)}/{len(members)}",
            "steps to bar": float(np.mean([q["step"] for q in reached])) if reached else None,
            "seconds to bar": float(np.mean([q["seconds"] for q in reached])) if reached else None}


def expected_jobs(sweep: Path) -> int | None:
    """How many jobs the sweep asked for, from its ``multirun.yaml``: the product of the choices of
    each swept override (basic sweeper), or optuna's ``n_trials``; None when it cannot be told."""
    from omegaconf import OmegaConf  # lazy: keeps omegaconf out of start-up

    path = sweep / "multirun.yaml"
    if not path.is_file():
        return None
    try:
        hydra = OmegaConf.load(path).hydra
        if "n_trials" in (hydra.get("sweeper") or {}):
            return int(hydra.sweeper.n_trials)
        from wgan_cli.sweep import sweep_overrides  # lazy: keeps torch out of start-up

        count = 1
        for override in sweep_overrides(sweep):
            if override.is_sweep_override():
                count *= len(list(override.sweep_string_iterator()))
        return count
    except Exception:  # noqa: BLE001 - a glob or interval sweep, or an unreadable file: not countable
        return None


def flat_config(job: Path) -> dict[str, str]:
    """The job's composed config (``.hydra/config.yaml``) as dotted key -> value text."""
    from omegaconf import OmegaConf  # lazy: keeps omegaconf out of start-up

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
