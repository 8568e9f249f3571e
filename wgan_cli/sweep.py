"""Sweeps: every run dir gets ``summary.json`` (overrides, status, steps, wall time, final and best
metrics); a job that fails inside a multirun is recorded as failed and the sweep goes on; the
sweep's exit code is the number of failed jobs (``SweepStatus``, a Hydra callback). The run's
hyperparameters go into its own TensorBoard writer as an HParams session, so
``tensorboard --logdir <sweep>`` shows one row per run.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from wgan_cli.rundir import SUMMARY, RunDir

log = logging.getLogger("wgan_cli")
HPARAM_KEYS = ("data.name", "model.name", "critic.name", "loss.name", "n_critic", "batch_size", "steps",
               "seed", "optim.name", "optim.lr_g", "optim.lr_d", "ema.decay")
METRICS = ("w1/exact", "w1/critic", "gap/critic", "w1/noise_floor", "w1/sliced", "lipschitz/empirical")
# TensorBoard's W1 page: the custom-scalars charts, with smoothing off (true values at each evaluation)
W1_VIEW = "http://localhost:6006/#custom_scalars&_smoothingWeight=0"
failed_jobs = 0  # set by SweepStatus.on_multirun_end, read by wgan_cli.train.main


def write_summary(run_dir: Path, **fields: Any) -> bool:
    """``summary.json`` in the run dir, replaced atomically. A failed write (a full disk) leaves the
    previous one and no temporary file, logs a warning and returns False: the run's own outcome
    (its checkpoint, its error line) matters more than its record."""
    path = RunDir(run_dir).summary
    tmp = path.with_name(f".{SUMMARY}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(fields, indent=2, default=float) + "\n")
        os.replace(tmp, path)
        return True
    except OSError as ex:
        tmp.unlink(missing_ok=True)
        logging.getLogger("wgan_cli").warning("could not write %s: %s", path, ex.strerror or ex)
        return False


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """The run's summary.json, or None where it is missing, unreadable or not a JSON object."""
    try:
        summary = json.loads(RunDir(run_dir).summary.read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


CHOSEN = {"critic": "critic option", "optim": "optim recipe"}  # group -> column: the option named on the command line


def chosen() -> dict[str, str]:
    """The options chosen by name where the config does not say it: ``critic=sn_ttur`` composes
    ``critic.name: sn``, and ``optim.name: adam`` does not say which recipe (``optim=ttur``)."""
    try:
        choices = HydraConfig.get().runtime.choices
    except ValueError:  # not under Hydra (tests, benchmarks)
        return {}
    return {column: str(choices[group]) for group, column in CHOSEN.items() if choices.get(group)}


def hparams(cfg: DictConfig) -> dict[str, Any]:
    """The hyperparameters a sweep compares, from the resolved config (plus every critic.* key),
    and the critic option and optimizer recipe chosen by name."""
    flat: dict[str, Any] = dict(chosen())
    for key in HPARAM_KEYS + tuple(f"critic.{k}" for k in cfg.critic):
        value = OmegaConf.select(cfg, key)
        value = getattr(value, "value", value)  # enums
        if isinstance(value, (bool, int, float, str)):
            flat[key] = value
    return flat


def domain(key: str, value: Any):  # noqa: ANN201 - an hparams Domain, or None
    """The HParams column's type: the options of a group (discrete), booleans; real numbers
    (learning rates, decays) are left undeclared (float). Integers (sizes, counts, seeds) are
    written as text (``shown``): TensorBoard's HParams has no integer type and draws every number
    with decimals (``128.00``); as text, each sweep value is one discrete choice."""
    from tensorboard.plugins.hparams import summary_v2 as hp  # lazy: keeps tensorboard out of start-up

    group, _, leaf = key.partition(".")
    if leaf == "name" and group in ("data", "model", "critic", "loss"):
        import wgan_cli.schema as schema  # lazy: keeps torch out of start-up

        registry = {"data": schema.data.DATASETS, "model": schema.model.MODELS, "critic": schema.critic.STRATEGIES,
                    "loss": schema.loss.LOSSES}[group]
        return hp.Discrete(sorted(set(registry.names()) | {value}))
    if isinstance(value, bool):
        return hp.Discrete([False, True])
    if key == "optim.name":
        from wgan_cli.config import OptimizerName  # lazy: keeps torch out of start-up

        return hp.Discrete([o.value for o in OptimizerName])
    return None


def shown(value: Any) -> Any:
    """An integer as its digits (see ``domain``); anything else as it is."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def varies(column: str, swept: set[str]) -> bool:
    """Whether a sweep over ``swept`` (keys and groups) varies the HParams column: the key itself,
    a key of a swept group (``critic.weight`` under ``critic=clip,gp``) or its chosen option."""
    group = column.split(".", 1)[0]
    return column in swept or group in swept or any(CHOSEN.get(g) == column for g in swept)


def write_hparams(writer, cfg: DictConfig, metric_tags: list[str]) -> None:  # noqa: ANN001 - SummaryWriter
    """The HParams experiment and this run's session, in the run's own event file (not
    ``add_hparams``, which writes a separate timestamped run). In a sweep, the columns it varies
    are marked ``differs``: TensorBoard lists them first and shows them checked (its first five)."""
    from tensorboard.plugins.hparams import plugin_data_pb2  # lazy: keeps tensorboard out of start-up
    from tensorboard.plugins.hparams import summary_v2 as hp  # lazy: keeps tensorboard out of start-up

    values = {k: shown(v) for k, v in hparams(cfg).items()}
    swept = swept_keys()
    params = sorted((hp.HParam(k, domain(k, v)) for k, v in values.items()), key=lambda p: not varies(p.name, swept))
    experiment = hp.hparams_config_pb(params, [hp.Metric(t) for t in metric_tags])
    content = experiment.value[0].metadata.plugin_data
    data = plugin_data_pb2.HParamsPluginData.FromString(content.content)
    for info in data.experiment.hparam_infos:
        info.differs = varies(info.name, swept)
    content.content = data.SerializeToString()
    writer.file_writer.add_summary(experiment)
    writer.file_writer.add_summary(hp.hparams_pb({p: values[p.name] for p in params}, trial_id=trial_id()))


def sweep_overrides(sweep_dir: Path) -> list:
    """The overrides a multirun's command line gave (its ``multirun.yaml``), parsed by Hydra: each
    says whether it sweeps (``is_sweep_override``) and over which values. Raises where there is
    no such file or it does not parse."""
    task = OmegaConf.load(Path(sweep_dir) / "multirun.yaml").hydra.overrides.task
    return OverridesParser.create().parse_overrides(list(task))


def sweep_dir() -> Path | None:
    """The sweep dir of the multirun this job belongs to; None for a single run or outside Hydra."""
    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:  # not under Hydra (tests, benchmarks)
        return None
    return Path(hydra_cfg.sweep.dir) if hydra_cfg.mode == RunMode.MULTIRUN else None


def swept_keys() -> set[str]:
    """The keys a multirun sweeps (``seed=0,1``, ``critic=clip,gp``), from the sweep's
    ``multirun.yaml``; empty for a single run or where it cannot be read."""
    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:  # not under Hydra (tests, benchmarks)
        return set()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return set()
    try:
        return {o.key_or_group for o in sweep_overrides(hydra_cfg.sweep.dir) if o.is_sweep_override()}
    except Exception:  # noqa: BLE001 - no multirun.yaml (another sweeper's layout): name runs by every override
        return set()


def differing_overrides() -> tuple[list[str], list[str]]:
    """The run's command-line overrides (``hydra.*`` left out), and those among them that a sweep
    varies (``critic=gp``, ``seed=1``; empty outside a sweep)."""
    try:
        overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith("hydra.")]
    except ValueError:  # not under Hydra (tests, benchmarks)
        return [], []
    varied = swept_keys()
    return overrides, [o for o in overrides if o.split("=", 1)[0].lstrip("+~") in varied]


def trial_id() -> str:
    """The run's name in the HParams table: in a sweep, the overrides that differ between its jobs
    (``critic=gp seed=1``: names that fit the column), else every command-line override."""
    overrides, differing = differing_overrides()
    return " ".join(differing or overrides) or "defaults"


JOB_NAME_CHARS = 80  # a job dir's suffix is cut there: a file name, and a TensorBoard run name


def job_dir_suffix() -> str:
    """``_critic=gp,seed=1``: a sweep job's dir is named by its number and the overrides that
    differ between the jobs (``hydra.sweep.subdir``), so TensorBoard's runs say what they
    compare (``0_critic=clip,seed=0/tb/exact`` rather than ``0/tb/exact``). Empty where nothing
    is swept or the sweep's record cannot be read (the dir is then the job number alone)."""
    try:
        differing = differing_overrides()[1]
    except Exception:  # noqa: BLE001 - a name must never stop a job
        return ""
    name = ",".join(differing).replace(os.sep, "_")[:JOB_NAME_CHARS]
    return f"_{name}" if name else ""


JOBS = ".jobs.json"  # in a sweep dir: the jobs it held when the latest multirun over it started


# overrides that say how long a job trains, how it is watched and where it runs, not what it is:
# a sweep run again with other values resumes its jobs (steps=6000 trains them on)
HOW_KEYS = ("hydra.", "steps", "log_every", "eval.", "probe.", "fid.", "checkpoint.", "train.", "device", "resume",
            "objective", "data.workers", "data.max_memory_mb", "data.root", "data.download")


def override_key(override: str) -> str:
    """``seed`` of ``seed=0``, ``critic`` of ``critic=gp`` (``+``/``~`` prefixes dropped)."""
    return str(override).split("=", 1)[0].lstrip("+~")


def job_key(overrides: Any, swept: Any = ()) -> tuple[str, ...]:
    """What identifies a sweep's job: its command-line overrides, in any order, but those of
    ``HOW_KEYS`` that the sweep does not vary (``swept``: a sweep over ``fid.cache_dir=a,b`` has
    jobs that differ in it alone)."""
    def how(override: str) -> bool:
        key = override_key(override)
        return key not in swept and any(key == k or (k.endswith(".") and key.startswith(k)) for k in HOW_KEYS)

    return tuple(sorted(str(o) for o in overrides if not how(str(o))))


def job_overrides(sweep_dir: Path) -> dict[str, list[str]]:
    """The job dirs a sweep dir holds, by name, in order of number: their ``.hydra/overrides.yaml``."""
    found: dict[str, list[str]] = {}
    if not Path(sweep_dir).is_dir():
        return found
    dirs = [p for p in Path(sweep_dir).iterdir() if (RunDir(p).hydra / "overrides.yaml").is_file()]
    for job in sorted(dirs, key=job_number):
        try:
            found[job.name] = [str(o) for o in OmegaConf.load(RunDir(job).hydra / "overrides.yaml")]
        except Exception:  # noqa: BLE001 - an unreadable record identifies nothing
            continue
    return found


def existing_jobs(sweep_dir: Path, swept: Any = ()) -> dict[tuple[str, ...], str]:
    """The job dirs a sweep dir holds, by ``job_key``; the first by number where two share one
    (written before jobs were identified by their overrides)."""
    found: dict[tuple[str, ...], str] = {}
    for name, overrides in job_overrides(sweep_dir).items():
        found.setdefault(job_key(overrides, swept), name)
    return found


def swept_of(task: list[str]) -> list[str]:
    """The keys a multirun over the overrides ``task`` varies."""
    try:
        return sorted(o.key_or_group for o in OverridesParser.create().parse_overrides(list(task))
                      if o.is_sweep_override())
    except Exception:  # noqa: BLE001 - not parsable here: nothing known to vary
        return []


def remember_jobs(sweep_dir: Path, task: list[str], hydra: list[str]) -> None:
    """Before a multirun over the overrides ``task`` (and ``hydra``, Hydra's own) launches its jobs:
    write the command, what it varies, the overrides of the job dirs the sweep dir already holds
    and the number each new job gets (``JOBS``), so that each job, in whatever process it runs,
    finds its dir the same way, and ``wgan-cli continue`` can run the command again (Optuna's
    sweeper writes no multirun.yaml)."""
    swept = swept_of(task)
    held = job_overrides(sweep_dir)
    keys = {job_key(overrides, swept) for overrides in held.values()}
    numbers = [job_number(Path(name))[0] for name in held]
    first = max((n + 1 for n in numbers if n < 1 << 60), default=0)
    new = [key for key in dict.fromkeys(expand(task, swept) or []) if key not in keys]
    record = {"task": list(task), "hydra": list(hydra), "swept": swept,
              "jobs": [[overrides, name] for name, overrides in held.items()], "next": first,
              "new": [[list(key), first + i] for i, key in enumerate(new)]}
    Path(sweep_dir).mkdir(parents=True, exist_ok=True)
    tmp = Path(sweep_dir) / f"{JOBS}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record))
    os.replace(tmp, Path(sweep_dir) / JOBS)


def job_dir_name() -> str:
    """A sweep job's dir (``hydra.sweep.subdir``): the dir of an earlier job with the same overrides
    in this sweep dir, which it then resumes (``resume=auto``), so that re-running a sweep with a
    changed list never trains the same overrides twice; else ``NUMBER_SUFFIX`` (``job_dir_suffix``),
    numbered on from the jobs the dir already holds."""
    hydra_cfg = HydraConfig.get()
    number, suffix = hydra_cfg.job.num, job_dir_suffix()
    try:
        record = json.loads((Path(hydra_cfg.sweep.dir) / JOBS).read_text())
    except (OSError, ValueError):  # no record (a sweep launched without the callback): Hydra's numbering
        return f"{number}{suffix}"
    swept = record.get("swept", [])
    key = job_key(hydra_cfg.overrides.task, swept)
    for overrides, name in record["jobs"]:
        if job_key(overrides, swept) == key:
            return name
    numbered = {tuple(k): n for k, n in record.get("new", [])}
    return f"{numbered.get(key, record['next'] + number)}{suffix}"


def expand(task: list[str], swept: Any = ()) -> list[tuple[str, ...]] | None:
    """The jobs (``job_key``) a multirun over the overrides ``task`` runs, in the basic sweeper's
    order; None where it cannot be told (a glob, an interval: another sweeper's)."""
    try:
        parsed = OverridesParser.create().parse_overrides(list(task))
        choices = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override()
                   else [f"{o.get_key_element()}={o.get_value_element_as_str()}"] for o in parsed]
    except Exception:  # noqa: BLE001 - not countable
        return None
    return [job_key(combo, swept) for combo in itertools.product(*choices)]


def swept_jobs(sweep_dir: Path) -> tuple[set[tuple[str, ...]] | None, list[str]]:
    """The jobs (``job_key``) the sweep's ``multirun.yaml`` asks for, and the keys it varies; None
    (and nothing) where it cannot be told (no file, optuna's trials, a glob or an interval)."""
    try:
        hydra = OmegaConf.load(Path(sweep_dir) / "multirun.yaml").hydra
        if "n_trials" in (hydra.get("sweeper") or {}):
            return None, []
        task = list(hydra.overrides.task)
    except Exception:  # noqa: BLE001 - no file, or not one Hydra wrote
        return None, []
    swept = swept_of(task)
    jobs = expand(task, swept)
    return (None if jobs is None else set(jobs)), swept


def job_number(job_dir: Path) -> tuple[int, str]:
    """The sort key of a sweep's job dir: ``10_seed=1`` after ``9_seed=0``."""
    number = job_dir.name.split("_", 1)[0]
    return (int(number) if number.isdigit() else 1 << 60), job_dir.name


class SweepStatus(Callback):
    """At the end of a multirun: count the failed jobs from their summaries, say which, and name
    the command that compares the finished ones."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        overrides = config.hydra.overrides
        remember_jobs(Path(config.hydra.sweep.dir), list(overrides.task), list(overrides.hydra))
        if "joblib" in str(config.hydra.launcher.get("_target_", "")):  # jobs in worker processes
            from wgan_cli.interrupts import forward_to_pool_workers  # lazy: keeps torch out of start-up

            forward_to_pool_workers()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        global failed_jobs
        sweep = Path(config.hydra.sweep.dir)
        ours, swept = swept_jobs(sweep)  # a sweep dir run again holds earlier jobs too: count this sweep's
        jobs = {name: key for key, name in existing_jobs(sweep, swept).items() if ours is None or key in ours}
        runs = [(d, read_summary(d)) for d in sorted((p.parent for p in sweep.glob(f"*/{SUMMARY}")), key=job_number)
                if d.name in jobs]
        failed = [(d, s) for d, s in runs if s and s.get("status") in ("failed", "diverged")]
        failed_jobs = len(failed)
        for run_dir, summary in failed:
            log.error("job %s failed: %s", run_dir.name, summary.get("reason", "?"))
        if runs:
            log.info("sweep %s: %d of %d jobs failed", sweep, len(failed), len(runs))
        if any(s and s.get("status") == "completed" for _, s in runs):
            log.info("compare the jobs: wgan-cli report %s", sweep)
            log.info("dashboard: tensorboard --logdir %s, then open %s (one line per job, unsmoothed)", sweep, W1_VIEW)
        if runs:
            log.info("run it again (unfinished jobs resume; add seeds or steps as overrides): wgan-cli continue %s",
                     sweep)
