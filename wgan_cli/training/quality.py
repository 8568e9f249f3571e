"""How a run's quality is read in its summary: time to quality, the first evaluation at which the
run meets its quality bar, by step and by training seconds (summed over resumed attempts), so
that sweeps compare how fast critics get there; and whether the critic's estimate tracks quality
(the WGAN paper's claim, Arjovsky et al. 2017, Figures 3-4): the Spearman rank correlation over
the run's evaluations between the critic's estimate and each reference for quality (``w1/exact``,
``w1/probe``, FID), +1 when the estimate falls exactly as quality improves.

The bar: on vector data (the toys) ``w1/exact <= 2 x w1/noise_floor`` (the noise floor is the
exact W1 between two real samples of the same size: a generator at twice it is close to the
data); on images ``FID <= fid.target`` when a target is given (none otherwise).
"""

from __future__ import annotations

import math
from typing import Any

FLOOR_FACTOR = 2.0


def bar(cfg: Any, vector_data: bool, fid_tag: str | None) -> str | None:
    """The run's bar as text (also the summary's label), or None when it has none."""
    if vector_data:
        return f"w1/exact <= {FLOOR_FACTOR:g} x w1/noise_floor"
    if fid_tag is not None and cfg.fid.target > 0:
        return f"{fid_tag} <= {cfg.fid.target:g}"
    return None


def met(results: dict[str, float], cfg: Any, vector_data: bool, fid_tag: str | None) -> bool:
    """Whether the values just evaluated meet the bar."""
    if vector_data:
        exact, floor = results.get("w1/exact"), results.get("w1/noise_floor")
        return exact is not None and floor is not None and exact <= FLOOR_FACTOR * floor
    return bar(cfg, vector_data, fid_tag) is not None and fid_tag in results and results[fid_tag] <= cfg.fid.target


def summary(label: str | None, reached: dict[str, float]) -> dict[str, Any]:
    """``time_to_quality`` of summary.json: the bar, and the step and seconds (null: not reached)."""
    return {"bar": label, "step": reached.get("step"), "seconds": reached.get("seconds")}


def tracking(history: dict[str, list[tuple[int, float]]], critic_tag: str) -> dict[str, Any]:
    """``critic_tracks_quality`` of summary.json: Spearman's rho between the critic's estimate and
    each reference logged at the same steps (None with fewer than 3 common evaluations or a
    constant series)."""
    from scipy.stats import spearmanr  # lazy: scipy loads only where it is used

    critic = dict(history.get(critic_tag, []))
    rho = {}
    for reference, values in history.items():
        if reference == critic_tag:
            continue
        steps = [step for step, _ in values if step in critic]
        if len(steps) < 3:
            rho[reference] = None
            continue
        reference_at = dict(values)
        value = spearmanr([critic[s] for s in steps], [reference_at[s] for s in steps]).statistic
        rho[reference] = float(value) if math.isfinite(value) else None
    return {"critic": critic_tag, "evaluations": len(critic), "spearman": rho}
